//! `completions bash|zsh|fish` and `man`: the command tree (`cli::command`, with its help
//! pages) as a shell completion script or a man page, on standard output.

use std::io::Write as _;

use crate::cli::Shell;
use crate::error::Exit;

pub(crate) fn completions(shell: Shell) -> anyhow::Result<Exit> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // Into memory first: the generator panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::command(), "ahead-sync", &mut script);
    if shell == clap_complete::Shell::Bash {
        // clap_complete's bash script spells a hyphenated name two ways (clap-rs/clap#6421):
        // its word loop reaches `ahead__sync__subcmd__export`, its case arms are labelled
        // `ahead__subcmd__sync__subcmd__export`, so nothing past the first word would complete.
        // The arms are given the loop's spelling (tested: `ahead-sync export rec<Tab>`).
        let text = String::from_utf8(script)?.replace("ahead__subcmd__sync", "ahead__sync");
        script = text.into_bytes();
    }
    print(&script)
}

/// One page for the whole tool: clap_mangen's sections for the top level, then a section per
/// command with its paragraph and examples, then the exit status.
pub(crate) fn man() -> anyhow::Result<Exit> {
    use std::fmt::Write as _;
    let man = clap_mangen::Man::new(crate::cli::command());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    let mut text = String::new();
    let examples = |text: &mut String, examples: &[(&str, &str)]| {
        for (line, what) in examples {
            let _ = write!(text, ".TP\n\\fB{}\\fR\n{}\n", roff(line), roff(what));
        }
    };
    text.push_str(".SH COMMANDS\n");
    for page in crate::help::PAGES.iter().filter(|p| !p.path.is_empty()) {
        let _ = write!(
            text,
            ".SS \"ahead\\-sync {}\"\n{}\n",
            roff(page.path),
            roff(page.about)
        );
        examples(&mut text, page.examples);
    }
    text.push_str(".SH EXAMPLES\n");
    if let Some(root) = crate::help::PAGES.iter().find(|p| p.path.is_empty()) {
        examples(&mut text, root.examples);
    }
    text.push_str(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in crate::help::EXIT_CODES {
        let _ = write!(text, ".TP\n\\fB{code}\\fR\n{}\n", roff(meaning));
    }
    page.extend_from_slice(text.as_bytes());
    man.render_version_section(&mut page)?;
    print(&page)
}

/// Text as roff reads it literally: backslashes and hyphens escaped, other than ASCII by its
/// code point, paragraphs apart, and no line that starts like a request.
fn roff(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\e"),
            '-' => escaped.push_str("\\-"),
            c if c.is_ascii() => escaped.push(c),
            c => escaped.push_str(&format!("\\[u{:04X}]", c as u32)),
        }
    }
    escaped
        .split("\n\n")
        .map(|para| {
            let para = para.replace('\n', " ");
            match para.chars().next() {
                Some('.' | '\'') => format!("\\&{para}"),
                _ => para,
            }
        })
        .collect::<Vec<_>>()
        .join("\n.PP\n")
}

/// Write to standard output; a reader that went away (`| head`) ends it quietly.
fn print(bytes: &[u8]) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Ok),
        result => {
            result?;
            Ok(Exit::Ok)
        }
    }
}
