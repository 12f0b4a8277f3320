//! `build` uses the images the business published (its site's og:image and logo, served by a
//! real HTTP server on 127.0.0.1): downloaded politely once, metadata stripped, resized into
//! self-hosted responsive files, never re-encoded on a rebuild, and read from the cache offline.

use std::fs;
use std::io::Cursor;

use crate::harness::Project;
use crate::web::{html, Reply, Site};

const CONFIG: &str = "site:\n  base_url: https://pages.agency.example/\n  cta_url: https://agency.example/claim\nenrichment:\n  website:\n    timeout_secs: 2.0\n    allow_private: true\nscoring:\n  threshold: 0\n";

/// A JPEG photo with an EXIF block that holds a secret, as phones write them.
fn photo(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    let payload = b"Exif\0\0GPSLatitude SECRET-PLACE 39.78";
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    app1.extend_from_slice(payload);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn logo() -> Vec<u8> {
    let img =
        image::RgbaImage::from_fn(400, 200, |x, _| image::Rgba([200, 30, 30, (x % 256) as u8]));
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba8(img)
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

fn lead(key: &str, website: &str, extra: &str) -> String {
    format!(
        "dedup_key: {key}\nname: Acme Auto\ncategory: Auto repair shop\nphone: '+12175550134'\naddress: {{street: 1 Main St, city: Springfield, region: IL, country: US}}\nwebsite: {website}\nroute: TARGET\n{extra}"
    )
}

fn business_site() -> Site {
    Site::start(vec![
        (
            "/robots.txt",
            Reply::Page("text/plain", b"User-agent: *\nAllow: /\n".to_vec()),
        ),
        (
            "/",
            html(
                r#"<html><head><meta property="og:image" content="/img/hero.jpg"></head><body><img src="/img/logo.png" alt="Acme logo"><p>Call us</p></body></html>"#,
            ),
        ),
        (
            "/img/hero.jpg",
            Reply::Page("image/jpeg", photo(2000, 1000)),
        ),
        ("/img/logo.png", Reply::Page("image/png", logo())),
        ("/img/maps.jpg", Reply::Page("image/jpeg", photo(800, 600))),
    ])
}

fn img_files(p: &Project) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(p.path("site/img"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn the_business_s_own_images_are_downloaded_once_stripped_and_resized() {
    let site = business_site();
    let p = Project::with_config(CONFIG);
    p.write(
        "leads/acme.yaml",
        &lead(
            "acme",
            &site.url("/"),
            &format!("thumbnail: {}\n", site.url("/img/maps.jpg")),
        ),
    );
    let run = p.run(&["build"]);
    run.code(0);
    assert!(
        run.stdout
            .contains("images: 2 downloaded, 0 not usable, 2 resized, 0 from earlier builds"),
        "{}",
        run.stdout
    );
    let files = img_files(&p);
    let widths: Vec<&str> = files.iter().map(|f| f.split('-').nth(1).unwrap()).collect();
    let mut widths = widths;
    widths.sort();
    assert_eq!(
        widths,
        ["1440.jpg", "160.png", "320.png", "480.jpg", "720.jpg", "960.jpg"],
        "{files:?}"
    );
    // Metadata is gone: the files are the pixels alone.
    for f in &files {
        let bytes = fs::read(p.path(&format!("site/img/{f}"))).unwrap();
        assert!(
            !bytes.windows(6).any(|w| w == b"SECRET"),
            "{f} kept the EXIF block"
        );
        assert!(
            !bytes.windows(4).any(|w| w == b"Exif"),
            "{f} kept the EXIF block"
        );
        let img = image::load_from_memory(&bytes).unwrap();
        let w: u32 = f
            .split('-')
            .nth(1)
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(img.width(), w, "{f}");
    }
    let page = p.read("site/acme/index.html");
    let hero = files.iter().find(|f| f.ends_with("-1440.jpg")).unwrap();
    for needle in [
        "class=\"hero has-image\"".to_string(),
        "width=\"1440\" height=\"720\"".to_string(),
        format!("<meta property=\"og:image\" content=\"https://pages.agency.example/img/{hero}\">"),
        "<meta name=\"twitter:card\" content=\"summary_large_image\">".to_string(),
        format!("\"image\":\"https://pages.agency.example/img/{hero}\""),
        "class=\"logo\"".to_string(),
    ] {
        assert!(page.contains(&needle), "{needle} in\n{page}");
    }
    // The Maps photo belongs to its uploader: not used unless the config says so.
    assert!(!site.paths().contains(&"/img/maps.jpg".to_string()));
    assert!(
        !page.contains(&site.url("/img")),
        "nothing is loaded from the business's host"
    );

    // A rebuild downloads and re-encodes nothing.
    let requests = site.paths().len();
    let again = p.run(&["build"]);
    again.code(0);
    assert!(
        again.stdout.contains("0 resized, 2 from earlier builds"),
        "{}",
        again.stdout
    );
    assert_eq!(
        site.paths()
            .iter()
            .skip(requests)
            .filter(|p| p.starts_with("/img/"))
            .count(),
        0,
        "{:?}",
        site.paths()
    );
    // Offline, from a clean site/: the cache is enough.
    fs::remove_dir_all(p.path("site")).unwrap();
    let offline = p.run(&["build", "--offline"]);
    offline.code(0);
    assert_eq!(img_files(&p), files);
    assert!(p.read("site/acme/index.html").contains("has-image"));
}

#[test]
fn without_an_image_the_hero_is_the_theme_s_own_and_bad_images_are_not_used() {
    let site = Site::start(vec![
        (
            "/robots.txt",
            Reply::Page("text/plain", b"User-agent: *\nAllow: /\n".to_vec()),
        ),
        (
            "/",
            html(
                r#"<html><head><meta property="og:image" content="/fake.jpg"></head><body><img src="/logo.png" class="logo"></body></html>"#,
            ),
        ),
        // Says it is a JPEG, is HTML; the logo is not an image at all.
        (
            "/fake.jpg",
            Reply::Page("image/jpeg", b"<html>not a picture</html>".to_vec()),
        ),
        ("/logo.png", html("<p>logo</p>")),
    ]);
    let p = Project::with_config(CONFIG);
    p.write("leads/acme.yaml", &lead("acme", &site.url("/"), ""));
    let run = p.run(&["build"]);
    run.code(0);
    assert!(
        run.stdout
            .contains("images: 1 downloaded, 1 not usable, 0 resized"),
        "{}",
        run.stdout
    );
    run.says("warning: acme: image");
    let page = p.read("site/acme/index.html");
    assert!(
        !page.contains("has-image") && !page.contains("<img"),
        "{page}"
    );
    assert!(!page.contains("og:image"));
    assert!(img_files(&p).is_empty());
}

/// A portrait picture is shown whole at its own shape (not cropped to the hero's landscape box),
/// and asks for the width it is shown at.
#[test]
fn a_portrait_hero_is_shown_whole() {
    let site = Site::start(vec![
        (
            "/robots.txt",
            Reply::Page("text/plain", b"User-agent: *\nAllow: /\n".to_vec()),
        ),
        (
            "/",
            html(r#"<html><head><meta property="og:image" content="/tall.jpg"></head></html>"#),
        ),
        ("/tall.jpg", Reply::Page("image/jpeg", photo(1000, 1500))),
    ]);
    let p = Project::with_config(CONFIG);
    p.write("leads/acme.yaml", &lead("acme", &site.url("/"), ""));
    p.run(&["build"]).code(0);
    let page = p.read("site/acme/index.html");
    let img = page
        .split("<img class=\"hero-img")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .unwrap_or_else(|| panic!("no hero image in {page}"));
    assert!(img.starts_with(" portrait\""), "{img}");
    // 22rem tall at 2:3 is 14.7rem wide.
    assert!(img.contains("sizes=\"15rem\""), "{img}");
    let css: String = crate::harness::tree(&p.path("site"))
        .into_iter()
        .filter(|(k, _)| k.ends_with(".css"))
        .map(|(_, v)| String::from_utf8(v).unwrap())
        .collect();
    assert!(css.contains(".hero-img.portrait { width: auto;"), "{css}");

    // A landscape one fills the hero's box, as before.
    let wide = business_site();
    let q = Project::with_config(CONFIG);
    q.write("leads/acme.yaml", &lead("acme", &wide.url("/"), ""));
    q.run(&["build"]).code(0);
    let page = q.read("site/acme/index.html");
    assert!(page.contains("<img class=\"hero-img\" "), "{page}");
    assert!(page.contains("sizes=\"(min-width: 60rem) 30rem, 100vw\""));
}

/// A phone photo stored sideways with an EXIF orientation is turned as the orientation says
/// (the metadata itself is not written out, so it could not be turned later).
#[test]
fn a_sideways_photo_is_turned_upright() {
    let mut plain = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(1200, 500, |x, _| {
        image::Rgb([(x % 256) as u8, 90, 90])
    }))
    .write_to(&mut Cursor::new(&mut plain), image::ImageFormat::Jpeg)
    .unwrap();
    // An APP1 EXIF block with one tag: Orientation (0x0112) = 6, turn 90° clockwise.
    let exif: &[u8] = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
    let mut jpeg = plain[..2].to_vec();
    jpeg.extend_from_slice(&[0xFF, 0xE1]);
    jpeg.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    jpeg.extend_from_slice(exif);
    jpeg.extend_from_slice(&plain[2..]);
    let site = Site::start(vec![
        (
            "/robots.txt",
            Reply::Page("text/plain", b"User-agent: *\nAllow: /\n".to_vec()),
        ),
        (
            "/",
            html(r#"<html><head><meta property="og:image" content="/side.jpg"></head></html>"#),
        ),
        ("/side.jpg", Reply::Page("image/jpeg", jpeg)),
    ]);
    let p = Project::with_config(CONFIG);
    p.write("leads/acme.yaml", &lead("acme", &site.url("/"), ""));
    p.run(&["build"]).code(0);
    let largest = img_files(&p)
        .into_iter()
        .filter(|f| f.ends_with(".jpg"))
        .max_by_key(|f| {
            f.split('-')
                .nth(1)
                .unwrap()
                .trim_end_matches(".jpg")
                .parse::<u32>()
                .unwrap()
        })
        .expect("a hero");
    let img = image::open(p.path(&format!("site/img/{largest}"))).unwrap();
    assert_eq!((img.width(), img.height()), (500, 1200), "{largest}");
    let page = p.read("site/acme/index.html");
    assert!(page.contains("class=\"hero-img portrait\""), "{page}");
}

/// An image address that is refused (a private address while the config does not allow them,
/// or no http(s) address at all) is named with its lead and the reason on every build, and
/// nothing is fetched from it.
#[test]
fn a_refused_image_address_is_named_with_its_lead_and_why() {
    let site = business_site();
    let p = Project::with_config(&CONFIG.replace("    allow_private: true\n", ""));
    let photo = site.url("/img/hero.jpg");
    p.write(
        "leads/acme.yaml",
        &lead(
            "acme",
            "https://no-site.example/",
            &format!("osm:\n  image: {photo}\n  logo: 'File:Acme logo.png'\n"),
        ),
    );
    for _ in 0..2 {
        let run = p.run(&["build"]);
        run.code(0).says(format!("warning: acme: image {photo}: "));
        assert!(
            run.stderr.contains(
                "warning: acme: image File:Acme logo.png: not a public http(s) address; left out"
            ),
            "{}",
            run.stderr
        );
    }
    assert!(site.paths().is_empty(), "{:?}", site.paths());
    assert!(!p.read("site/acme/index.html").contains("<img"));
}

#[test]
fn maps_photos_are_used_only_when_the_config_says_so() {
    let site = business_site();
    let p = Project::with_config(&CONFIG.replacen(
        "site:\n",
        "site:\n  images:\n    maps_photos: true\n",
        1,
    ));
    p.write(
        "leads/acme.yaml",
        &lead(
            "acme",
            "https://no-site.example/",
            &format!("thumbnail: {}\n", site.url("/img/maps.jpg")),
        ),
    );
    p.run(&["build"]).code(0);
    assert!(site.paths().contains(&"/img/maps.jpg".to_string()));
    let page = p.read("site/acme/index.html");
    assert!(page.contains("width=\"800\" height=\"600\""), "{page}");
}

/// A PNG of `w`×`h`, fully transparent but for a dark square in its middle.
fn see_through(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        let inside = x > w / 3 && x < 2 * w / 3 && y > h / 3 && y < 2 * h / 3;
        if inside {
            image::Rgba([20, 20, 20, 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba8(img)
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

#[test]
fn a_see_through_hero_is_on_white_and_a_small_one_is_not_blown_up() {
    let page_with = |hero: &str| {
        html(&format!(
            r#"<html><head><meta property="og:image" content="{hero}"></head><body></body></html>"#
        ))
    };
    let robots = || Reply::Page("text/plain", b"User-agent: *\nAllow: /\n".to_vec());
    let clear = Site::start(vec![
        ("/robots.txt", robots()),
        ("/", page_with("/banner.png")),
        (
            "/banner.png",
            Reply::Page("image/png", see_through(1200, 630)),
        ),
    ]);
    let tiny = Site::start(vec![
        ("/robots.txt", robots()),
        ("/", page_with("/tiny.jpg")),
        ("/tiny.jpg", Reply::Page("image/jpeg", photo(120, 120))),
    ]);
    let p = Project::with_config(CONFIG);
    p.write("leads/acme.yaml", &lead("acme", &clear.url("/"), ""));
    p.write(
        "leads/bolt.yaml",
        &lead("bolt", &tiny.url("/"), "").replace("Acme Auto", "Bolt Auto"),
    );
    let run = p.run(&["build"]);
    run.code(0);
    // The see-through banner: its corners white, its middle dark, never a black box.
    let hero = img_files(&p)
        .into_iter()
        .find(|f| f.ends_with("-960.jpg"))
        .expect("the banner became a hero");
    let img = image::open(p.path(&format!("site/img/{hero}")))
        .unwrap()
        .to_rgb8();
    let corner = img.get_pixel(2, 2).0;
    assert!(corner.iter().all(|c| *c > 240), "corner {corner:?}");
    let middle = img.get_pixel(img.width() / 2, img.height() / 2).0;
    assert!(middle.iter().all(|c| *c < 60), "middle {middle:?}");
    // The 120 px picture is not stretched over the hero: the theme's own is used, and said.
    let page = p.read("site/bolt/index.html");
    assert!(!page.contains("has-image"), "{page}");
    run.says("120 px wide, too narrow for the hero");
}
