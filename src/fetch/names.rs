//! The file name each saved body gets under `-d DIR`: from the list line (`URL<TAB>name`)
//! or the URL, made safe, and made unique in input order so reruns agree.
//!
//! Unique means more than distinct names: a name is never a folder another name needs
//! (`/docs` and `/docs/intro` in the host layout: the first one keeps `docs`, a later one
//! that needs it as a folder gets `docs.1/intro`, a later file named like a folder gets
//! `docs.1`), and names ending like a temporary file (`.fetchpool-part`) get a `_`.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Component, Path, PathBuf};

use url::Url;

use crate::redact::percent_decode;

/// The longest file name component written, in bytes (Linux allows 255; the rest is room
/// for a numeric suffix and the temporary name's affixes).
const MAX_COMPONENT: usize = 200;

/// How saved files are laid out under the directory (`--layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Layout {
    /// `DIR/NAME`: the last segment of the URL's path (`index.html` when empty).
    #[default]
    Flat,
    /// `DIR/HOST/PATH`, as wget does: the host (and a port other than the scheme's), then
    /// every segment of the path; a query is kept in the last segment (`page?x=1`).
    Host,
}

/// Hands out file names in input order; two lines that would get the same name get
/// numeric suffixes (`a.html`, `a.1.html`, ...), the first line keeping the name.
///
/// Memory: a 64-bit hash per name and per folder handed out (a hash collision costs a
/// needless suffix, never a shared file).
#[derive(Debug, Default)]
pub(crate) struct Namer {
    /// Hashes of the files handed out so far.
    files: HashSet<u64>,
    /// Hashes of the folders the files handed out are in.
    folders: HashSet<u64>,
    /// The layout.
    layout: Layout,
    /// With `--crawl` in the flat layout: the folder, whose files from before the run are
    /// never replaced, so a name that is there takes the next suffix (as wget `-nd` does).
    keep_existing: Option<PathBuf>,
}

impl Namer {
    /// Names files in `layout`.
    pub fn new(layout: Layout) -> Self {
        Namer {
            layout,
            ..Namer::default()
        }
    }

    /// Names files in `layout` under `dir`, never one that is there already.
    pub(crate) fn keeping_existing(layout: Layout, dir: PathBuf) -> Self {
        Namer {
            layout,
            keep_existing: Some(dir),
            ..Namer::default()
        }
    }

    /// The relative path for the body of `url`, or of the name the list gave it. Called
    /// once per list line, in order (resumed and skipped lines too, so suffixes agree
    /// between runs).
    ///
    /// # Errors
    /// A given name that is absolute, leaves the directory (`..`), or is empty.
    pub(crate) fn name(&mut self, url: &Url, given: Option<&str>) -> Result<PathBuf, String> {
        let path = match given {
            Some(name) => given_path(name)?,
            None => url_path(url, self.layout),
        };
        let path = self.folders_for(&path);
        Ok(self.unique(path))
    }

    /// `path` with each folder it needs that is a file handed out replaced by the first
    /// of `NAME.1`, `NAME.2`, ... that is not; the folders are then taken as folders.
    fn folders_for(&mut self, path: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        let parts: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let Some((file, folders)) = parts.split_last() else {
            return path.to_path_buf();
        };
        for folder in folders {
            let mut candidate = out.join(folder);
            let mut n = 0u64;
            while self.files.contains(&hash(&candidate)) {
                n += 1;
                candidate = out.join(format!("{folder}.{n}"));
            }
            self.folders.insert(hash(&candidate));
            out = candidate;
        }
        out.join(file)
    }

    /// `path`, or the first of `path` with suffixes `.1`, `.2`, ... not handed out yet (as
    /// a file or a folder) and, when keeping existing files, not there already.
    fn unique(&mut self, path: PathBuf) -> PathBuf {
        if self.free(&path) {
            self.files.insert(hash(&path));
            return path;
        }
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (stem, ext) = split_extension(&file);
        for n in 1u64.. {
            let candidate = path.with_file_name(format!("{stem}.{n}{ext}"));
            if self.free(&candidate) {
                self.files.insert(hash(&candidate));
                return candidate;
            }
        }
        unreachable!("some suffix is free")
    }

    /// Whether `path` may be handed out as a file.
    fn free(&self, path: &Path) -> bool {
        let key = hash(path);
        !self.files.contains(&key)
            && !self.folders.contains(&key)
            && self
                .keep_existing
                .as_ref()
                .is_none_or(|dir| std::fs::symlink_metadata(dir.join(path)).is_err())
    }
}

fn hash(path: &Path) -> u64 {
    let mut h = DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

/// `("a", ".html")` for `a.html`; a leading dot is not an extension (`.profile`).
fn split_extension(file: &str) -> (&str, &str) {
    match file.rfind('.') {
        Some(i) if i > 0 => (&file[..i], &file[i..]),
        _ => (file, ""),
    }
}

/// A name given after the TAB: relative components, each made safe; `..` or an absolute
/// path is refused rather than guessed at.
fn given_path(name: &str) -> Result<PathBuf, String> {
    let path = Path::new(name);
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(safe_component(&part.to_string_lossy())),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!("file name {name:?} leaves the directory (..)"));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("file name {name:?} is absolute"));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(format!("file name {name:?} is empty"));
    }
    Ok(out)
}

/// The name the URL gives in `layout`.
fn url_path(url: &Url, layout: Layout) -> PathBuf {
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| s.map(percent_decode).collect())
        .unwrap_or_default();
    let last = segments.last().filter(|s| !s.is_empty()).cloned();
    match layout {
        Layout::Flat => PathBuf::from(safe_component(last.as_deref().unwrap_or("index.html"))),
        Layout::Host => {
            let mut host = url.host_str().unwrap_or("host").to_ascii_lowercase();
            if let Some(port) = url.port() {
                host.push_str(&format!(":{port}"));
            }
            let mut out = PathBuf::from(safe_component(&host));
            let dirs = segments.len().saturating_sub(1);
            for dir in segments.iter().take(dirs).filter(|s| !s.is_empty()) {
                out.push(safe_component(dir));
            }
            let mut file = last.unwrap_or_else(|| "index.html".to_string());
            if let Some(query) = url.query() {
                file.push('?');
                file.push_str(&percent_decode(query));
            }
            out.push(safe_component(&file));
            out
        }
    }
}

/// One file name component that stays where it is put: `/`, `\`, NUL and control
/// characters become `_`, `.` and `..` get a leading `_`, and a name longer than
/// `MAX_COMPONENT` (200) bytes is shortened, keeping its extension.
pub(crate) fn safe_component(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if out.is_empty() {
        out.push('_');
    }
    if out == "." || out == ".." {
        out.insert(0, '_');
    }
    // The temporary files' names are reserved: no body may be saved as one.
    if out.ends_with(crate::fetch::save::PARTIAL_SUFFIX)
        || out.ends_with(&format!(
            "{}{}",
            crate::fetch::save::PARTIAL_SUFFIX,
            crate::fetch::save::VALIDATOR_SUFFIX
        ))
    {
        out.push('_');
    }
    if out.len() > MAX_COMPONENT {
        let (stem, ext) = split_extension(&out);
        let ext = if ext.len() <= 16 { ext } else { "" };
        let mut keep = MAX_COMPONENT - ext.len();
        while !stem.is_char_boundary(keep.min(stem.len())) {
            keep -= 1;
        }
        out = format!("{}{ext}", &stem[..keep.min(stem.len())]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(namer: &mut Namer, url: &str, given: Option<&str>) -> Result<String, String> {
        namer
            .name(&Url::parse(url).unwrap(), given)
            .map(|p| p.to_string_lossy().into_owned())
    }

    #[test]
    fn the_name_is_the_last_path_segment_decoded_or_index_html() {
        let mut n = Namer::new(Layout::Flat);
        assert_eq!(
            name(&mut n, "http://h/a/b%20c.html", None).unwrap(),
            "b c.html"
        );
        assert_eq!(name(&mut n, "http://h/", None).unwrap(), "index.html");
        assert_eq!(name(&mut n, "http://h/dir/", None).unwrap(), "index.1.html");
    }

    #[test]
    fn hostile_names_never_leave_the_directory() {
        let mut n = Namer::new(Layout::Flat);
        for (url, want) in [
            ("http://h/x/..%2F..%2Fetc%2Fpasswd", ".._.._etc_passwd"),
            // The URL standard resolves `%2e%2e` as `..` before any name is made.
            ("http://h/%2e%2e", "index.html"),
            ("http://h/a%00b%0Ac", "a_b_c"),
            ("http://h/a%5Cb", "a_b"),
        ] {
            let got = name(&mut n, url, None).unwrap();
            assert_eq!(got, want, "{url}");
            assert!(!got.contains('/'));
        }
        assert_eq!(safe_component(".."), "_..");
        assert_eq!(safe_component("."), "_.");
        assert_eq!(safe_component(""), "_");
        let long = format!("http://h/{}.html", "x".repeat(5000));
        let got = name(&mut n, &long, None).unwrap();
        assert!(
            got.len() <= MAX_COMPONENT && got.ends_with(".html"),
            "{got}"
        );
    }

    #[test]
    fn a_given_name_may_hold_folders_but_not_leave_or_start_at_the_root() {
        let mut n = Namer::new(Layout::Flat);
        let url = "http://h/x";
        assert_eq!(
            name(&mut n, url, Some("pages/a.html")).unwrap(),
            "pages/a.html"
        );
        assert_eq!(name(&mut n, url, Some("./b")).unwrap(), "b");
        assert!(
            name(&mut n, url, Some("../x"))
                .unwrap_err()
                .contains("leaves")
        );
        assert!(name(&mut n, url, Some("a/../../x")).is_err());
        assert!(
            name(&mut n, url, Some("/etc/passwd"))
                .unwrap_err()
                .contains("absolute")
        );
        assert!(name(&mut n, url, Some(".")).unwrap_err().contains("empty"));
    }

    #[test]
    fn equal_names_get_numeric_suffixes_in_input_order() {
        let mut n = Namer::new(Layout::Flat);
        let got: Vec<String> = ["http://a/x.html", "http://b/x.html", "http://c/x.html"]
            .iter()
            .map(|u| name(&mut n, u, None).unwrap())
            .collect();
        assert_eq!(got, ["x.html", "x.1.html", "x.2.html"]);
        assert_eq!(name(&mut n, "http://a/.profile", None).unwrap(), ".profile");
        assert_eq!(
            name(&mut n, "http://b/.profile", None).unwrap(),
            ".profile.1"
        );
    }

    #[test]
    fn the_host_layout_keeps_host_port_path_and_query() {
        let mut n = Namer::new(Layout::Host);
        assert_eq!(
            name(&mut n, "http://Example.COM:8080/a/b/c.html?x=1", None).unwrap(),
            "example.com:8080/a/b/c.html?x=1"
        );
        assert_eq!(
            name(&mut n, "https://h/a/", None).unwrap(),
            "h/a/index.html"
        );
        assert_eq!(
            name(&mut n, "http://h/a%2F..%2F..%2Fb", None).unwrap(),
            "h/a_.._.._b"
        );
    }

    #[test]
    fn a_name_is_never_a_folder_another_name_needs() {
        let mut n = Namer::new(Layout::Host);
        assert_eq!(name(&mut n, "http://h/docs", None).unwrap(), "h/docs");
        assert_eq!(
            name(&mut n, "http://h/docs/intro", None).unwrap(),
            "h/docs.1/intro"
        );
        assert_eq!(
            name(&mut n, "http://h/docs/more", None).unwrap(),
            "h/docs.1/more"
        );
        assert_eq!(name(&mut n, "http://h/a/b", None).unwrap(), "h/a/b");
        assert_eq!(
            name(&mut n, "http://h/a", None).unwrap(),
            "h/a.1",
            "a is a folder"
        );
    }

    #[test]
    fn temporary_names_are_reserved() {
        let mut n = Namer::new(Layout::Flat);
        assert_eq!(
            name(&mut n, "http://h/.x.fetchpool-part", None).unwrap(),
            ".x.fetchpool-part_"
        );
        assert_eq!(
            name(&mut n, "http://h/.x.fetchpool-part.validator", None).unwrap(),
            ".x.fetchpool-part.validator_"
        );
        assert_eq!(
            name(&mut n, "http://h/x", Some("d/.y.fetchpool-part")).unwrap(),
            "d/.y.fetchpool-part_"
        );
    }

    #[test]
    fn keeping_existing_files_takes_the_next_suffix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".bashrc"), b"mine").unwrap();
        let mut n = Namer::keeping_existing(Layout::Flat, dir.path().to_path_buf());
        assert_eq!(name(&mut n, "http://h/.bashrc", None).unwrap(), ".bashrc.1");
        assert_eq!(name(&mut n, "http://h/new", None).unwrap(), "new");
    }
}
