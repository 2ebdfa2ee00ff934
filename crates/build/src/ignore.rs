//! `.dockerignore` as docker reads it: moby's `ignorefile.ReadAll` (comments,
//! `!` exceptions, leading `/` and `./` cleaned) and `patternmatcher`
//! (`*`, `?`, `[...]`, `**`, a pattern matching a directory excludes what
//! is under it, the last matching pattern wins).

use regex::Regex;

/// A malformed pattern (Go's `filepath.ErrBadPattern`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("syntax error in pattern")]
    BadPattern,
    #[error("illegal exclusion pattern: \"!\"")]
    LoneExclamation,
}

/// One pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    dirs: usize,
    exclusion: bool,
    kind: Result<Kind, ()>,
}

#[derive(Debug, Clone)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regexp(Regex),
}

impl Pattern {
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }
    fn matches(&self, path: &str) -> Result<bool, PatternError> {
        match &self.kind {
            Err(()) => Err(PatternError::BadPattern),
            Ok(Kind::Exact) => Ok(path == self.cleaned),
            Ok(Kind::Prefix) => Ok(path.starts_with(&self.cleaned[..self.cleaned.len() - 2])),
            Ok(Kind::Suffix) => {
                let suffix = &self.cleaned[2..];
                if path.ends_with(suffix) {
                    return Ok(true);
                }
                Ok(suffix.starts_with('/') && path == &suffix[1..])
            }
            Ok(Kind::Regexp(re)) => Ok(re.is_match(path)),
        }
    }
}

/// patternmatcher's `compile`: the kind of match, or the regexp.
fn compile(pattern: &str) -> Result<Kind, ()> {
    let mut re = String::from("^");
    let mut kind = 0u8; // 0 exact, 1 prefix, 2 suffix, 3 regexp
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut n = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        if ch == '*' {
            if chars.get(i) == Some(&'*') {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if kind == 0 {
                        kind = 1;
                    } else {
                        re.push_str(".*");
                        kind = 3;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = 3;
                }
                if n == 0 {
                    kind = 2;
                }
            } else {
                re.push_str("[^/]*");
                kind = 3;
            }
        } else if ch == '?' {
            re.push_str("[^/]");
            kind = 3;
        } else if ".+()|{}$".contains(ch) {
            re.push('\\');
            re.push(ch);
        } else if ch == '\\' {
            if let Some(&c) = chars.get(i) {
                i += 1;
                re.push('\\');
                re.push(c);
                kind = 3;
            } else {
                re.push('\\');
            }
        } else if ch == '[' || ch == ']' {
            re.push(ch);
            kind = 3;
        } else {
            re.push(ch);
        }
        n += 1;
    }
    Ok(match kind {
        0 => Kind::Exact,
        1 => Kind::Prefix,
        2 => Kind::Suffix,
        _ => {
            re.push('$');
            Kind::Regexp(Regex::new(&re).map_err(|_| ())?)
        }
    })
}

/// Go's `filepath.Match` syntax check (what `Match(p, ".")` reports).
fn validate(p: &str) -> Result<(), PatternError> {
    let c: Vec<char> = p.chars().collect();
    let bad = Err(PatternError::BadPattern);
    let mut i = 0;
    // getEsc: one class character; the class must go on after it.
    let get_esc = |i: &mut usize| -> Result<(), PatternError> {
        match c.get(*i) {
            None | Some('-' | ']') => return Err(PatternError::BadPattern),
            Some('\\') => {
                *i += 1;
                if *i >= c.len() {
                    return Err(PatternError::BadPattern);
                }
            }
            _ => {}
        }
        *i += 1;
        if *i >= c.len() {
            return Err(PatternError::BadPattern);
        }
        Ok(())
    };
    while i < c.len() {
        match c[i] {
            '\\' => {
                if i + 1 >= c.len() {
                    return bad;
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if c.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut nrange = 0;
                loop {
                    if c.get(i) == Some(&']') && nrange > 0 {
                        i += 1;
                        break;
                    }
                    get_esc(&mut i)?;
                    if c.get(i) == Some(&'-') {
                        i += 1;
                        get_esc(&mut i)?;
                    }
                    nrange += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Go's `filepath.Clean` on a slash path.
pub use berth_util::gostr::clean_path as clean;

/// Go's `filepath.Dir` on a slash path.
fn dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean(&p[..=i]),
        None => ".".into(),
    }
}

/// moby's `PatternMatcher`.
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// `patternmatcher.New`.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        let mut pm = PatternMatcher::default();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(PatternError::LoneExclamation);
                }
                exclusion = true;
                p = rest.to_string();
                pm.exclusions = true;
            }
            validate(&p)?;
            pm.patterns.push(Pattern {
                dirs: p.split('/').count(),
                kind: compile(&p),
                cleaned: p,
                exclusion,
            });
        }
        Ok(pm)
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether there are `!` patterns (an excluded directory must then be
    /// walked: an exception may take a file under it back).
    pub fn exclusions(&self) -> bool {
        self.exclusions
    }

    /// `Matches`: whether `file` (slash path relative to the context) is
    /// excluded; a pattern matching a parent of as many components excludes
    /// it too.
    pub fn matches(&self, file: &str) -> Result<bool, PatternError> {
        let parent = dir(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(file)?;
            if !m && parent != "." && p.dirs <= parent_dirs.len() {
                m = p.matches(&parent_dirs[..p.dirs].join("/")).unwrap_or(false);
            }
            if m {
                matched = !p.exclusion;
            }
        }
        Ok(matched)
    }

    /// `MatchesOrParentMatches`: like [`matches`](Self::matches), trying
    /// every parent directory.
    pub fn matches_or_parent_matches(&self, file: &str) -> Result<bool, PatternError> {
        let parent = dir(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(file)?;
            if !m && parent != "." {
                for i in 0..parent_dirs.len() {
                    m = p.matches(&parent_dirs[..=i].join("/")).unwrap_or(false);
                    if m {
                        break;
                    }
                }
            }
            if m {
                matched = !p.exclusion;
            }
        }
        Ok(matched)
    }

    /// `MatchesUsingParentResults`: for a walk, with what each pattern
    /// gave for the parent directory (empty for a top-level entry).
    pub fn matches_using_parent_results(
        &self,
        file: &str,
        parent: &[bool],
    ) -> Result<(bool, Vec<bool>), PatternError> {
        let mut info = vec![false; self.patterns.len()];
        let mut matched = false;
        for (i, p) in self.patterns.iter().enumerate() {
            let mut m = parent.get(i).copied().unwrap_or(false);
            if !m {
                if p.exclusion != matched {
                    continue;
                }
                m = p.matches(file)?;
                if !m && parent.is_empty() {
                    let pp = dir(file);
                    if pp != "." {
                        let dirs: Vec<&str> = pp.split('/').collect();
                        for j in 0..dirs.len() {
                            m = p.matches(&dirs[..=j].join("/")).unwrap_or(false);
                            if m {
                                break;
                            }
                        }
                    }
                }
            }
            info[i] = m;
            if m {
                matched = !p.exclusion;
            }
        }
        Ok((matched, info))
    }
}

/// `patternmatcher.Matches(file, patterns)`.
pub fn matches<S: AsRef<str>>(file: &str, patterns: &[S]) -> Result<bool, PatternError> {
    let pm = PatternMatcher::new(patterns)?;
    let file = clean(file);
    if file == "." {
        return Ok(false);
    }
    pm.matches(&file)
}

/// `ignorefile.ReadAll`: the patterns of a `.dockerignore`.
pub fn read_ignore_file(content: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(content);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = vec![];
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut p = line.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        let mut p = p.to_string();
        if !p.is_empty() {
            p = clean(&p);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        if invert {
            p.insert(0, '!');
        }
        out.push(p);
    }
    out
}

/// The `.dockerignore` of a build: `<dockerfile>.dockerignore` beside the
/// Dockerfile when there is one, else the context's `.dockerignore`. These
/// are the patterns COPY/ADD see the context through: a Dockerfile or
/// `.dockerignore` they name is read by the builder but not copied (the
/// daemon's `removeDockerfile`, BuildKit's separate Dockerfile source);
/// a sender keeps them in what it sends with [`keep_build_files`].
pub fn build_patterns(
    context_dir: &std::path::Path,
    dockerfile: Option<&std::path::Path>,
) -> std::io::Result<Vec<String>> {
    let mut content = None;
    if let Some(df) = dockerfile {
        let mut name = df.as_os_str().to_owned();
        name.push(".dockerignore");
        match std::fs::read(&name) {
            Ok(c) => content = Some(c),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if content.is_none() {
        match std::fs::read(context_dir.join(".dockerignore")) {
            Ok(c) => content = Some(c),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(content.map(|c| read_ignore_file(&c)).unwrap_or_default())
}

/// docker's `TrimBuildFilesFromExcludes`: `!.dockerignore` and
/// `!<Dockerfile>` appended when the patterns would exclude them.
pub fn keep_build_files(patterns: &mut Vec<String>, dockerfile: Option<&str>) {
    let Ok(pm) = PatternMatcher::new(patterns) else {
        return;
    };
    let mut add = vec![];
    if pm.matches(".dockerignore").unwrap_or(false) {
        add.push("!.dockerignore".to_string());
    }
    if let Some(df) = dockerfile {
        let df = clean(df);
        if pm.matches(&df).unwrap_or(false) {
            add.push(format!("!{df}"));
        }
    }
    patterns.extend(add);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// patternmatcher_test.go TestMatches (through MatchesOrParentMatches
    /// and MatchesUsingParentResults).
    #[test]
    fn patternmatcher_matches_table() {
        let t: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("**", "/", true),
            ("**/", "/", true),
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**", "dir/file/", true),
            ("**/", "dir/file/", true),
            ("**/**", "dir/file", true),
            ("**/**", "dir/file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/file/", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**", "dir/dir2/file/", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file/", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            ("a\\*b", "a*b", true),
        ];
        for &(p, text, want) in t {
            let pm = PatternMatcher::new(&[p]).unwrap();
            assert_eq!(
                pm.matches_or_parent_matches(text).unwrap(),
                want,
                "MatchesOrParentMatches pattern={p:?} text={text:?}"
            );
            // Walk-style: parents first.
            let parent = dir(text);
            let mut info = vec![];
            if parent != "." {
                let dirs: Vec<&str> = parent.split('/').collect();
                for i in 0..dirs.len() {
                    info = pm
                        .matches_using_parent_results(&dirs[..=i].join("/"), &info)
                        .unwrap()
                        .1;
                }
            }
            assert_eq!(
                pm.matches_using_parent_results(text, &info).unwrap().0,
                want,
                "MatchesUsingParentResults pattern={p:?} text={text:?}"
            );
        }
        let multi: &[(&[&str], &str, bool)] = &[
            (&["**", "!util/docker/web"], "util/docker/web/foo", false),
            (
                &["**", "!util/docker/web", "util/docker/web/foo"],
                "util/docker/web/foo",
                true,
            ),
            (
                &[
                    "**",
                    "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                ],
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                false,
            ),
            (
                &["**", "!dist/*.whl"],
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                false,
            ),
        ];
        for &(ps, text, want) in multi {
            let pm = PatternMatcher::new(ps).unwrap();
            assert_eq!(
                pm.matches_or_parent_matches(text).unwrap(),
                want,
                "{ps:?} {text:?}"
            );
        }
    }

    /// patternmatcher_test.go: the small Matches tests.
    #[test]
    fn patternmatcher_simple_cases() {
        assert!(matches("fileutils.go", &["*"]).unwrap());
        assert!(matches("fileutils.go", &["*.go"]).unwrap());
        assert!(matches("fileutils.go", &["!fileutils.go", "*.go"]).unwrap());
        assert!(!matches("docs/README.md", &["docs", "!docs/README.md"]).unwrap());
        assert!(!matches("docs/README.md", &["docs/", "!docs/README.md"]).unwrap());
        assert!(!matches("docs/README.md", &["docs/*", "!docs/README.md"]).unwrap());
        assert!(!matches("fileutils.go", &["*.go", "!fileutils.go"]).unwrap());
        assert!(!matches(".", &["*.go"]).unwrap());
        assert_eq!(
            matches("fileutils.go", &["!"]),
            Err(PatternError::LoneExclamation)
        );
        assert!(!matches("/any/path/there", &[] as &[&str]).unwrap());
        assert!(matches("/any/path/there", &["["]).is_err());
    }

    /// patternmatcher_test.go TestMatch (Go's filepath.Match table).
    #[test]
    fn patternmatcher_filepath_match_table() {
        let t: &[(&str, &str, bool, bool)] = &[
            ("abc", "abc", true, false),
            ("*", "abc", true, false),
            ("*c", "abc", true, false),
            ("a*", "a", true, false),
            ("a*", "abc", true, false),
            ("a*", "ab/c", true, false),
            ("a*/b", "abc/b", true, false),
            ("a*/b", "a/c/b", false, false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true, false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true, false),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false, false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true, false),
            ("a*b?c*x", "abxbbxdbxebxczzy", false, false),
            ("ab[c]", "abc", true, false),
            ("ab[b-d]", "abc", true, false),
            ("ab[e-g]", "abc", false, false),
            ("ab[^c]", "abc", false, false),
            ("ab[^b-d]", "abc", false, false),
            ("ab[^e-g]", "abc", true, false),
            ("a\\*b", "a*b", true, false),
            ("a\\*b", "ab", false, false),
            ("a?b", "a☺b", true, false),
            ("a[^a]b", "a☺b", true, false),
            ("a???b", "a☺b", false, false),
            ("a[^a][^a][^a]b", "a☺b", false, false),
            ("[a-ζ]*", "α", true, false),
            ("*[a-ζ]", "A", false, false),
            ("a?b", "a/b", false, false),
            ("a*b", "a/b", false, false),
            ("[\\]a]", "]", true, false),
            ("[\\-]", "-", true, false),
            ("[x\\-]", "x", true, false),
            ("[x\\-]", "-", true, false),
            ("[x\\-]", "z", false, false),
            ("[\\-x]", "x", true, false),
            ("[\\-x]", "-", true, false),
            ("[\\-x]", "a", false, false),
            ("[]a]", "]", false, true),
            ("[-]", "-", false, true),
            ("[x-]", "x", false, true),
            ("[x-]", "-", false, true),
            ("[x-]", "z", false, true),
            ("[-x]", "x", false, true),
            ("[-x]", "-", false, true),
            ("[-x]", "a", false, true),
            ("\\", "a", false, true),
            ("[a-b-c]", "a", false, true),
            ("[", "a", false, true),
            ("[^", "a", false, true),
            ("[^bc", "a", false, true),
            ("a[", "a", false, true),
            ("a[", "ab", false, true),
            ("*x", "xxx", true, false),
        ];
        for &(p, s, want, want_err) in t {
            let r = matches(s, &[p]);
            assert_eq!(
                r.clone().unwrap_or(false),
                want,
                "Match({p:?}, {s:?}) = {r:?}"
            );
            assert_eq!(r.is_err(), want_err, "Match({p:?}, {s:?}) = {r:?}");
        }
    }

    /// patternmatcher_test.go TestCompile (slash).
    #[test]
    fn patternmatcher_compile_table() {
        let t: &[(&str, &str)] = &[
            ("*", "^[^/]*$"),
            ("file*", "^file[^/]*$"),
            ("*file", "^[^/]*file$"),
            ("a*/b", "^a[^/]*/b$"),
            ("**", "suffix"),
            ("**/**", "^(.*/)?.*$"),
            ("dir/**", "prefix"),
            ("**/dir", "suffix"),
            ("**/dir2/*", "^(.*/)?dir2/[^/]*$"),
            ("**/dir2/**", "^(.*/)?dir2/.*$"),
            ("**file", "suffix"),
            ("**/file*txt", "^(.*/)?file[^/]*txt$"),
            ("**/**/*.txt", "^(.*/)?(.*/)?[^/]*\\.txt$"),
            ("a[b-d]e", "^a[b-d]e$"),
            (".*", "^\\.[^/]*$"),
            ("abc.def", "exact"),
            ("abc?def", "^abc[^/]def$"),
            ("**/foo/bar", "suffix"),
            ("a(b)c/def", "exact"),
            ("a.|)$(}+{bc", "exact"),
        ];
        for &(p, want) in t {
            let got = match compile(&clean(p)).unwrap() {
                Kind::Exact => "exact".to_string(),
                Kind::Prefix => "prefix".to_string(),
                Kind::Suffix => "suffix".to_string(),
                Kind::Regexp(r) => r.as_str().to_string(),
            };
            assert_eq!(got, want, "{p}");
        }
    }

    /// ignorefile_test.go TestReadAll.
    #[test]
    fn ignorefile_read_all() {
        let content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
        assert_eq!(
            read_ignore_file(content.as_bytes()),
            [
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path",
                "!",
                "!"
            ]
        );
        assert_eq!(read_ignore_file(b"./a/../b/\n"), ["b"]);
    }

    #[test]
    fn dockerfile_and_dockerignore_always_sent() {
        let mut p = vec!["*".to_string()];
        keep_build_files(&mut p, Some("Dockerfile"));
        assert_eq!(p, ["*", "!.dockerignore", "!Dockerfile"]);
        let pm = PatternMatcher::new(&p).unwrap();
        assert!(!pm.matches("Dockerfile").unwrap());
        assert!(pm.matches("other").unwrap());
        let mut p = vec!["*.md".to_string()];
        keep_build_files(&mut p, Some("Dockerfile"));
        assert_eq!(p, ["*.md"]);
    }
}
