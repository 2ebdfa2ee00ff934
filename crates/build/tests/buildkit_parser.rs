//! BuildKit's own parser test files (frontend/dockerfile/parser/testfiles,
//! copied under tests/data): each Dockerfile parses to BuildKit's dump in
//! `result`, and each of testfiles-negative fails.

use std::path::Path;

fn dirs(p: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn buildkit_testfiles_dump_as_buildkit() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/parser-testfiles");
    let mut failures = vec![];
    let all = dirs(&base);
    assert!(all.len() > 30);
    for d in all {
        let df = std::fs::read(d.join("Dockerfile")).unwrap();
        let want = std::fs::read_to_string(d.join("result")).unwrap();
        match build::parser::parse("Dockerfile", &df) {
            Ok(ast) => {
                let got = ast.dump() + "\n";
                if got != want {
                    failures.push(format!("{}:\n--- want\n{want}--- got\n{got}", d.display()));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", d.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn buildkit_negative_testfiles_fail() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/parser-testfiles-negative");
    for d in dirs(&base) {
        let df = std::fs::read(d.join("Dockerfile")).unwrap();
        assert!(
            build::parser::parse("Dockerfile", &df).is_err(),
            "{} parsed",
            d.display()
        );
    }
}

/// parser_heredoc_test.go TestParseExtractsHeredoc: (name, content, expand,
/// chomp, fd) of each instruction's heredocs, after FROM.
#[test]
fn buildkit_heredoc_extraction() {
    type H = (&'static str, &'static str, bool, bool, u32);
    let want: Vec<Vec<H>> = vec![
        vec![],
        vec![],
        vec![],
        vec![],
        vec![("EMPTY", "", true, false, 0)],
        vec![("EMPTY2", "", true, false, 3)],
        vec![],
        vec![("INDENT", "\tfoo\n\tbar\n", true, false, 0)],
        vec![("UNINDENT", "\tbaz\n\tquux\n", true, true, 0)],
        vec![("UNINDENT2", "\tbaz\n\tquux\n", true, true, 0)],
        vec![("EXPAND", "\texpand $NAME\n", true, true, 0)],
        vec![("NOEXPAND", "\tdon't expand $NAME\n", false, true, 0)],
        vec![("COPY", "echo hello world\necho foo bar\n", true, false, 0)],
        vec![(
            "COMMENT",
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
            true,
            false,
            0,
        )],
        vec![("MOUNT", "echo hello\n", true, false, 0)],
        vec![
            ("FILE1", "content 1\n", true, false, 0),
            ("FILE2", "content 2\n", true, false, 0),
        ],
        vec![("EOF", "\"foo\"\n'bar'\n", true, false, 0)],
        vec![("X", "Y\n", true, false, 0), ("Y", "X\n", true, false, 0)],
        vec![("COMPLEX", "print('hello world')\n", true, false, 0)],
        vec![("file.txt", "hello world\n", true, false, 0)],
        vec![("eof", "echo foo\n", false, false, 0)],
        vec![("eo'f", "echo foo\n", true, false, 0)],
        vec![("eo'f", "echo foo\n", false, false, 0)],
        vec![("one two", "echo bar\n", false, false, 0)],
        vec![("$EOF", "", true, false, 0)],
        vec![("EOF", "", true, false, 0)],
        vec![("EOF", "", true, false, 0)],
    ];
    let df =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/heredocs.Dockerfile"))
            .unwrap();
    let ast = build::parser::parse("Dockerfile", &df).unwrap();
    assert_eq!(ast.nodes.len(), want.len() + 1);
    for (i, w) in want.iter().enumerate() {
        let n = &ast.nodes[i + 1];
        let got: Vec<H> = n
            .heredocs
            .iter()
            .map(|h| {
                (
                    &*h.name.clone().leak(),
                    &*h.content.clone().leak(),
                    h.expand,
                    h.chomp,
                    h.file_descriptor,
                )
            })
            .collect();
        assert_eq!(&got, w, "instruction {} ({})", i + 2, n.original);
    }
}
