//! Images the business itself published: the `og:image` and the logo found on its own website
//! (the website provider already saw them) and OSM `image` / `logo` tags. Google-Maps photos
//! (`thumbnail`) belong to the people who uploaded them and are used only when
//! `site.images.maps_photos` is on.
//!
//! Downloads are polite, as the website provider's: robots.txt, its user agent and time budget,
//! public addresses only, a byte cap, image content types only; each result (or failure) is kept
//! in `<work>/cache/images/`, so a second build, or `--offline`, downloads nothing. An image is
//! decoded with bounded dimensions, re-encoded (which drops EXIF, GPS and every other metadata)
//! and resized into `site/img/<digest>-<width>.<ext>` (JPEG for photos, PNG for logos, never
//! wider than the source); what was made is remembered by the source's digest, so a rebuild
//! re-encodes nothing.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::Config;
use crate::lead::Lead;
use crate::pipeline::enrich::website::{is_reserved_host, Fetcher};

/// The widths made of a hero picture and of a logo (never wider than the source).
const HERO_WIDTHS: &[u32] = &[480, 720, 960, 1440];
/// A picture narrower than this would be blown up, pixelated, across the hero: the theme's own
/// hero is used instead.
const MIN_HERO_WIDTH: u32 = 480;
const LOGO_WIDTHS: &[u32] = &[160, 320];
/// Larger sources are refused before they are decoded.
const MAX_SIDE: u32 = 8000;

/// A resized, self-hosted image as a template uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Img {
    /// The smallest file's path from the site's root.
    pub src: String,
    /// `…-480.jpg 480w, …-960.jpg 960w`.
    pub srcset: String,
    /// The largest file's width and height (the aspect ratio for layout).
    pub width: u32,
    pub height: u32,
    /// The largest file's path from the site's root (`og:image` is the absolute form).
    pub largest: String,
}

/// A lead's images: a hero picture and a logo, each if it has one.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LeadImages {
    pub hero: Option<Img>,
    pub logo: Option<Img>,
}

/// What was made of one source: kept in the cache by the source's digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Made {
    files: Vec<(u32, u32, String)>,
}

#[derive(Debug, Default, Serialize, Clone)]
pub struct ImageStats {
    pub downloaded: usize,
    pub failed: usize,
    pub encoded: usize,
    pub reused: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Hero,
    Logo,
}

pub struct Images {
    cache: PathBuf,
    out: PathBuf,
    /// Temp files of `out` live here (never under `site/`).
    staging: PathBuf,
    root: String,
    fetcher: Option<Fetcher>,
    max_bytes: u64,
    maps_photos: bool,
    enabled: bool,
    downloaded: AtomicUsize,
    failed: AtomicUsize,
    encoded: AtomicUsize,
    reused: AtomicUsize,
    /// Files of site/img/ this build refers to.
    used: Mutex<std::collections::BTreeSet<String>>,
}

impl Images {
    /// `offline`: use only what the cache holds.
    pub fn new(config: &Config, root: &str, offline: bool) -> Images {
        let opts = &config.site.images;
        Images {
            cache: config.work_dir().join("cache").join("images"),
            out: config.site_dir().join("img"),
            staging: super::staging_dir(config),
            root: root.to_string(),
            fetcher: (opts.enabled && !offline).then(|| Fetcher::new(&config.enrichment.website)),
            max_bytes: opts.max_bytes,
            maps_photos: opts.maps_photos,
            enabled: opts.enabled,
            downloaded: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            encoded: AtomicUsize::new(0),
            reused: AtomicUsize::new(0),
            used: Mutex::new(Default::default()),
        }
    }

    pub fn stats(&self) -> ImageStats {
        ImageStats {
            downloaded: self.downloaded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            encoded: self.encoded.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
        }
    }

    /// The sources of a lead's images, best first: (kind, URL).
    fn sources(&self, lead: &Lead) -> Vec<(Kind, String)> {
        if !self.enabled {
            return Vec::new();
        }
        let e = lead.enrichment.as_deref();
        let osm = |k: &str| {
            let osm = lead.extra.get("osm")?;
            osm.get(k).and_then(|v| v.as_str()).map(String::from)
        };
        let mut hero: Vec<String> = e.and_then(|e| e.image_url.clone()).into_iter().collect();
        hero.extend(osm("image"));
        if self.maps_photos {
            hero.extend(lead.extra.get_str("thumbnail").map(String::from));
        }
        let mut logo: Vec<String> = e.and_then(|e| e.logo_url.clone()).into_iter().collect();
        logo.extend(osm("logo"));
        hero.into_iter()
            .map(|u| (Kind::Hero, u))
            .chain(logo.into_iter().map(|u| (Kind::Logo, u)))
            .collect()
    }

    /// Downloads every source not in the cache yet, `threads` at a time.
    pub fn prefetch(&self, leads: &[&Lead], threads: usize) {
        let Some(fetcher) = &self.fetcher else {
            return;
        };
        let mut urls: Vec<String> = leads
            .iter()
            .flat_map(|l| self.sources(l))
            .map(|(_, u)| u)
            .filter(|u| usable(u).is_some())
            .filter(|u| !self.raw_path(u).exists() && !self.err_path(u).exists())
            .collect();
        urls.sort();
        urls.dedup();
        if urls.is_empty() {
            return;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build();
        let work = || {
            use rayon::prelude::*;
            urls.par_iter().for_each(|u| self.download(fetcher, u));
        };
        match pool {
            Ok(p) => p.install(work),
            Err(_) => work(),
        }
    }

    fn key(url: &str) -> String {
        let d = Sha256::digest(url.as_bytes());
        crate::text::hex(&d[..16])
    }

    fn raw_path(&self, url: &str) -> PathBuf {
        self.cache.join(format!("{}.bin", Self::key(url)))
    }

    fn err_path(&self, url: &str) -> PathBuf {
        self.cache.join(format!("{}.err", Self::key(url)))
    }

    fn download(&self, fetcher: &Fetcher, raw: &str) {
        let Some(url) = usable(raw) else { return };
        let result = fetcher
            .fetch_file(&url, self.max_bytes)
            .and_then(|(bytes, content_type)| {
                let mime = crate::web::media_type(&content_type);
                if !matches!(
                    mime.as_str(),
                    "image/jpeg" | "image/png" | "image/gif" | "image/webp"
                ) {
                    return Err(format!("not a photo or logo format ({mime})"));
                }
                Ok(bytes)
            });
        // The cache is best effort: what cannot be kept is fetched again next build.
        let _ = crate::fsutil::create_dir_all(&self.cache);
        match result {
            Ok(bytes) => {
                self.downloaded.fetch_add(1, Ordering::Relaxed);
                let _ = crate::fsutil::write_atomic(&self.raw_path(raw), &bytes, false);
            }
            Err(why) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let _ = crate::fsutil::write_atomic(
                    &self.err_path(raw),
                    format!("{raw}\n{why}\n").as_bytes(),
                    false,
                );
            }
        }
    }

    /// The lead's images, made from what the cache holds; a source that cannot be used (not a
    /// public http(s) address, refused or failed when it was fetched, not a usable picture) is
    /// skipped with the reason in the warnings, every build, until the data is fixed.
    pub fn for_lead(&self, lead: &Lead) -> (LeadImages, Vec<String>) {
        let mut out = LeadImages::default();
        let mut warnings = Vec::new();
        for (kind, url) in self.sources(lead) {
            let slot = match kind {
                Kind::Hero => &mut out.hero,
                Kind::Logo => &mut out.logo,
            };
            if slot.is_some() {
                continue;
            }
            let shown = crate::text::cut(&url, 200);
            if usable(&url).is_none() {
                warnings.push(format!(
                    "image {shown}: not a public http(s) address; left out"
                ));
                continue;
            }
            let Some(bytes) = crate::fsutil::read_cache(&self.raw_path(&url)) else {
                // Why its download failed, as recorded then (`<url>\n<why>`).
                if let Some(err) = crate::fsutil::read_cache(&self.err_path(&url)) {
                    let err = String::from_utf8_lossy(&err);
                    let why = err.lines().nth(1).unwrap_or("could not be fetched");
                    warnings.push(format!("image {shown}: {why}; left out"));
                }
                continue;
            };
            match self.make(&bytes, kind) {
                Ok(img) => *slot = Some(img),
                Err(why) => warnings.push(format!("image {shown}: {why}; left out")),
            }
        }
        (out, warnings)
    }

    /// Resized files of one source, made once per source digest.
    fn make(&self, bytes: &[u8], kind: Kind) -> Result<Img, String> {
        let digest = crate::text::hex(&Sha256::digest(bytes)[..8]);
        let tag = if kind == Kind::Hero { "h" } else { "l" };
        let meta = self.cache.join("made").join(format!("{digest}-{tag}.json"));
        let made: Option<Made> = crate::fsutil::read_cache(&meta)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|m: &Made| {
                !m.files.is_empty() && m.files.iter().all(|(_, _, f)| self.out.join(f).is_file())
            });
        let made = match made {
            Some(m)
                if kind == Kind::Hero && m.files.last().is_some_and(|f| f.0 < MIN_HERO_WIDTH) =>
            {
                return Err(too_narrow(m.files.last().map_or(0, |f| f.0)));
            }
            Some(m) => {
                self.reused.fetch_add(1, Ordering::Relaxed);
                m
            }
            None => {
                let m = self.encode(bytes, kind, &digest)?;
                self.encoded.fetch_add(1, Ordering::Relaxed);
                let _ = crate::fsutil::write_atomic(
                    &meta,
                    &serde_json::to_vec(&m).unwrap_or_default(),
                    false,
                );
                m
            }
        };
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        for (_, _, f) in &made.files {
            used.insert(f.clone());
        }
        let path = |f: &str| format!("{}img/{f}", self.root);
        let (w, h, largest) = made.files.last().cloned().unwrap_or_default();
        Ok(Img {
            src: path(&made.files[0].2),
            srcset: made
                .files
                .iter()
                .map(|(w, _, f)| format!("{} {w}w", path(f)))
                .collect::<Vec<_>>()
                .join(", "),
            width: w,
            height: h,
            largest: path(&largest),
        })
    }

    fn encode(&self, bytes: &[u8], kind: Kind, digest: &str) -> Result<Made, String> {
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| e.to_string())?;
        let format = reader.format().ok_or("not an image")?;
        if !matches!(
            format,
            ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP
        ) {
            return Err(format!("{format:?} is not used"));
        }
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(512 * 1024 * 1024);
        reader.limits(limits);
        // A phone's photo is stored sideways with an EXIF orientation that says how to turn it;
        // the metadata is not written out, so the pixels are turned here.
        let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
        let orientation = image::ImageDecoder::orientation(&mut decoder)
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut img = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
        img.apply_orientation(orientation);
        let (sw, sh) = (img.width(), img.height());
        if sw < 16 || sh < 16 {
            return Err(format!("too small ({sw}×{sh})"));
        }
        if kind == Kind::Hero && sw < MIN_HERO_WIDTH {
            return Err(too_narrow(sw));
        }
        let wanted = if kind == Kind::Hero {
            HERO_WIDTHS
        } else {
            LOGO_WIDTHS
        };
        let mut widths: Vec<u32> = wanted.iter().copied().filter(|w| *w < sw).collect();
        if widths.len() < wanted.len() {
            widths.push(sw.min(*wanted.last().unwrap_or(&sw)));
        }
        widths.dedup();
        let ext = if kind == Kind::Hero { "jpg" } else { "png" };
        crate::fsutil::create_dir_all(&self.out).map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        for w in widths {
            let h = ((u64::from(sh) * u64::from(w)) / u64::from(sw)).max(1) as u32;
            let resized = if w == sw {
                img.clone()
            } else {
                img.resize_exact(w, h, image::imageops::FilterType::Triangle)
            };
            let name = format!("{digest}-{w}.{ext}");
            let mut buf = Vec::new();
            // Encoding the pixels alone is what strips the metadata.
            let written = if kind == Kind::Hero {
                // JPEG has no transparency: what was see-through is white, not black.
                hero_jpeg(&on_white(&resized)).map(|jpeg| buf = jpeg)
            } else {
                resized
                    .to_rgba8()
                    .write_to(&mut Cursor::new(&mut buf), ImageFormat::Png)
                    .map_err(|e| e.to_string())
            };
            written?;
            crate::fsutil::write_if_changed_via(&self.out.join(&name), &buf, Some(&self.staging))
                .map_err(|e| e.to_string())?;
            files.push((w, h, name));
        }
        Ok(Made { files })
    }

    /// Removes files of site/img/ that no page uses any more.
    /// One that cannot be removed is an error: it would stay published.
    pub fn sweep(&self) -> crate::error::Result<()> {
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        for path in crate::fsutil::list_dir(&self.out)? {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if !used.contains(name.as_ref()) && path.is_file() {
                crate::fsutil::remove_file(&path)?;
            }
        }
        crate::fsutil::remove_empty_dir(&self.out)?;
        Ok(())
    }
}

fn too_narrow(width: u32) -> String {
    format!("{width} px wide, too narrow for the hero (at least {MIN_HERO_WIDTH}): the theme's own picture is shown instead")
}

/// The picture's pixels over a white ground (its transparent parts white).
fn on_white(img: &DynamicImage) -> image::RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

/// An absolute http(s) URL on a host that can be on the internet; reserved example hosts are
/// never fetched.
fn usable(raw: &str) -> Option<Url> {
    let u = Url::parse(raw.trim()).ok()?;
    if !matches!(u.scheme(), "http" | "https") || raw.len() > 2000 {
        return None;
    }
    let host = u.host_str()?;
    (!is_reserved_host(host)).then_some(u)
}

/// A hero's JPEG: quality 82, 4:2:0, baseline, the standard Huffman tables; no metadata. Within
/// 0.5–1.2 % of libjpeg-turbo at the same settings, 2.4–3.1 % of its optimized tables (image's
/// own encoder wrote a third more: no chroma subsampling). jpeg-encoder's optimized tables are
/// not used: for a picture with few distinct values (a white banner) they hold an all-ones code,
/// which the JPEG standard forbids and image's decoder reads as the wrong colours.
fn hero_jpeg(rgb: &image::RgbImage) -> Result<Vec<u8>, String> {
    let (w, h) = (
        u16::try_from(rgb.width()).map_err(|_| "too wide for a JPEG")?,
        u16::try_from(rgb.height()).map_err(|_| "too tall for a JPEG")?,
    );
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 82)
        .encode(rgb.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hero_jpegs_are_subsampled_and_read_back_true() {
        // Photo-like: gradients with noise.
        let mut seed = 7u32;
        let rgb = image::RgbImage::from_fn(480, 320, |x, y| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let n = (seed >> 24) as u8 / 8;
            image::Rgb([(x / 2) as u8 / 2 + n, (y / 2) as u8 + n, 120 + n])
        });
        let jpeg = super::hero_jpeg(&rgb).unwrap();
        let mut standard = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::Cursor::new(&mut standard), 82)
            .encode_image(&image::DynamicImage::ImageRgb8(rgb.clone()))
            .unwrap();
        assert!(
            jpeg.len() < standard.len(),
            "{} bytes, image's own encoder {}",
            jpeg.len(),
            standard.len()
        );
        let back = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (480, 320));
        // Only the JFIF header: no EXIF or other metadata.
        assert!(!jpeg.windows(4).any(|w| w == b"Exif"));
        // A flat picture reads back as its colour.
        for colour in [[255, 255, 255], [200, 30, 30]] {
            let flat = image::RgbImage::from_pixel(961, 505, image::Rgb(colour));
            let back = image::load_from_memory(&super::hero_jpeg(&flat).unwrap())
                .unwrap()
                .to_rgb8();
            for (x, y) in [(2, 2), (480, 252), (960, 504)] {
                let got = back.get_pixel(x, y).0;
                assert!(
                    got.iter().zip(colour).all(|(g, c)| g.abs_diff(c) <= 3),
                    "{colour:?} at {x},{y}: {got:?}"
                );
            }
        }
    }
}
