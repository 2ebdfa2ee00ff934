//! An image reference as a user, a compose file or an archive's
//! `RepoTags` gives it: parsed, and what is printed of it parses back to
//! the same reference.
#![no_main]

use image::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = image::Platform::parse(s);
    // `parse` adds `:latest` to a name without tag or digest, `parse_named`
    // does not: each reads back what it made.
    let parsers: [fn(&str) -> Result<Reference, image::ReferenceError>; 2] =
        [Reference::parse, Reference::parse_named];
    for parse in parsers {
        let Ok(r) = parse(s) else { continue };
        let _ = (
            r.domain(),
            r.path(),
            r.tag(),
            r.familiar_name(),
            r.familiar(),
        );
        let _ = r.repo_tag();
        let _ = r.repository();
        let _ = r.with_tag("latest");
        let printed = r.to_string();
        let back = parse(&printed).expect("a printed reference parses");
        assert_eq!(back, r, "{s:?} -> {printed:?}");
        let fam = r.familiar();
        assert_eq!(
            parse(&fam).expect("a familiar form parses"),
            r,
            "{s:?} -> {fam:?}"
        );
    }
});
