//! The root README's embedding snippet is the example's code: this test fails when the two
//! differ, so the snippet readers copy is what `tests/runs.rs` compiles and runs.

const README: &str = include_str!("../../../README.md");
const MAIN: &str = include_str!("../src/main.rs");

/// The first ```rust block after the `## Embedding it` heading.
fn readme_snippet() -> Vec<String> {
    let section = &README[README
        .find("## Embedding it")
        .expect("README.md has an `## Embedding it` section")..];
    let block = &section[section.find("```rust\n").expect("a ```rust block") + "```rust\n".len()..];
    let block = &block[..block.find("```").expect("the block ends")];
    block.lines().map(str::to_owned).collect()
}

/// The lines of `main.rs` between the `// README: begin` and `// README: end` markers, with
/// their common indentation removed.
fn marked_region() -> Vec<String> {
    let lines: Vec<&str> = MAIN.lines().collect();
    let begin = lines
        .iter()
        .position(|l| l.trim() == "// README: begin")
        .expect("main.rs has a `// README: begin` marker");
    let end = lines
        .iter()
        .position(|l| l.trim() == "// README: end")
        .expect("main.rs has a `// README: end` marker");
    let region = &lines[begin + 1..end];
    let indent = region
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    region
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").to_owned())
        .collect()
}

#[test]
fn readme_embedding_snippet_is_the_examples_code() {
    let snippet = readme_snippet();
    let region = marked_region();
    assert!(
        region.len() >= 5,
        "the marked region is too short: {region:?}"
    );
    assert_eq!(
        snippet, region,
        "README.md's snippet under `## Embedding it` must be the lines between the README \
         markers of examples/embedding/src/main.rs, unindented; copy them over"
    );
}
