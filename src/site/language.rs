//! A site language as leadsite reads it everywhere (UI strings, copy and page files, clocks):
//! `el_CY`, `el-CY` and `el-cy` are the tag `el-cy` of the language `el`.

/// A language tag, lower case with `-`, and its language without the region.
#[derive(Debug, Clone, PartialEq)]
pub struct Lang {
    pub tag: String,
    pub primary: String,
}

impl Lang {
    pub fn of(language: &str) -> Lang {
        let tag = language.replace('_', "-").to_ascii_lowercase();
        let primary = tag.split('-').next().unwrap_or("").to_string();
        Lang { tag, primary }
    }

    /// The file suffixes of this language, most specific first: `["el-cy", "el"]`, `["de"]`.
    pub fn suffixes(&self) -> Vec<&str> {
        let mut out = vec![self.tag.as_str()];
        if self.primary != self.tag {
            out.push(self.primary.as_str());
        }
        out
    }

    pub fn is_english(&self) -> bool {
        self.primary == "en"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_one_way() {
        assert_eq!(Lang::of("el_CY"), Lang::of("el-cy"));
        assert_eq!(Lang::of("el-CY").suffixes(), ["el-cy", "el"]);
        assert_eq!(Lang::of("de").suffixes(), ["de"]);
        assert!(Lang::of("en-GB").is_english() && !Lang::of("el").is_english());
    }
}
