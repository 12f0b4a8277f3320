//! `deploy:` — where `leadsite deploy` publishes `site/`: S3 buckets (or any S3-compatible
//! store), and the headers each kind of file gets. Credentials never live here: the standard AWS
//! environment variables or shared credentials file.

use super::*;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Deploy {
    pub targets: Vec<Target>,
    /// Header rules by file pattern (globs over the path inside `site/`, e.g. `**/*.pdf`); the
    /// first rule that matches a file and sets a header wins over the built-in one.
    pub headers: Vec<HeaderRule>,
    /// Deletes at most this many objects in one run; with more, none happens (and it says why).
    pub max_deletes: usize,
    /// Uploads at once.
    pub jobs: usize,
}

impl Default for Deploy {
    fn default() -> Self {
        Deploy {
            targets: Vec::new(),
            headers: Vec::new(),
            max_deletes: 256,
            jobs: 8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub bucket: String,
    /// Keys start with this (e.g. `www/`); empty: the bucket's root.
    #[serde(default)]
    pub prefix: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// An S3-compatible store (`https://s3.eu-central-003.backblazeb2.com`, MinIO …); default:
    /// AWS S3 in `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (most
    /// S3-compatible stores want this).
    #[serde(default)]
    pub path_style: bool,
    /// The profile of the shared credentials file (`~/.aws/credentials`) when the environment
    /// has no keys; default: `AWS_PROFILE`, else `default`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Gzip text files (HTML, CSS, JS, JSON, XML, SVG, TXT) and send `Content-Encoding: gzip`.
    #[serde(default)]
    pub gzip: bool,
    /// A CloudFront distribution in front of the bucket: the invalidation of what changed is
    /// printed as the command to run.
    #[serde(default)]
    pub distribution_id: Option<String>,
}

fn default_region() -> String {
    "us-east-1".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRule {
    pub pattern: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub cache_control: Option<String>,
}
