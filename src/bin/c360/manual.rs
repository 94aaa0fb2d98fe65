//! What `--help` and the manual pages say beyond the flags: each command's environment, exit
//! status and examples, written once here and shown in both (`--help` after the options; the
//! pages as ENVIRONMENT, EXIT STATUS and EXAMPLES sections, as man-pages(7) orders them).

use std::io::Write;

use clap::CommandFactory;

use super::cli::Cli;

mod sections;

use sections::{Extra, extra};

/// The help text after the options: the same sections, plain.
fn help_text(extra: &Extra) -> String {
    let mut text = String::new();
    for (heading, items) in extra.sections() {
        text.push_str(&format!("{heading}:\n"));
        for (name, meaning) in items {
            text.push_str(&format!("  {name}\n      {meaning}\n"));
        }
        text.push('\n');
    }
    text.trim_end().to_owned()
}

/// The command line, each command's help ending with its environment, exit status and
/// examples.
pub(crate) fn command() -> clap::Command {
    fn with_extra(command: clap::Command) -> clap::Command {
        let name = command.get_name().to_owned();
        let text = help_text(&extra(&name));
        let names: Vec<String> = command
            .get_subcommands()
            .map(|sub| sub.get_name().to_owned())
            .collect();
        let mut command = command.after_help(text);
        for sub in names {
            command = command.mut_subcommand(sub, with_extra);
        }
        command
    }
    with_extra(Cli::command().name("c360"))
}

/// Writes one manual page: clap_mangen's sections, then ENVIRONMENT, EXIT STATUS, EXAMPLES,
/// then the version.
fn page(command: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let name = command.get_name().to_owned();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if command.get_arguments().any(|arg| !arg.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if command.has_subcommands() {
        man.render_subcommands_section(out)?;
    }
    let extra = extra(&name);
    for (heading, items) in extra.sections() {
        writeln!(out, ".SH \"{}\"", heading.to_uppercase())?;
        for (item, meaning) in items {
            writeln!(out, ".TP\n\\fB{}\\fR\n{}", roff(item), roff(meaning))?;
        }
    }
    if command.get_version().is_some() {
        man.render_version_section(out)?;
    }
    Ok(())
}

/// Text as roff reads it literally: backslashes escaped, no line taken for a request.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    match escaped.chars().next() {
        Some('.' | '\'') => format!("\\&{escaped}"),
        _ => escaped,
    }
}

/// The page of `c360` on `out`.
pub(crate) fn write_page(out: &mut dyn Write) -> std::io::Result<()> {
    let mut command = command().disable_help_subcommand(true);
    command.build();
    page(command, out)
}

/// A page per command into `dir`: c360.1, c360-get.1, c360-config-check.1…
pub(crate) fn write_pages(dir: &std::path::Path) -> std::io::Result<()> {
    fn each(command: clap::Command, dir: &std::path::Path) -> std::io::Result<()> {
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            each(sub.clone(), dir)?;
        }
        let file = clap_mangen::Man::new(command.clone()).get_filename();
        let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join(file))?);
        page(command, &mut out)?;
        out.flush()
    }
    let mut command = command().disable_help_subcommand(true);
    command.build();
    each(command, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_takes_the_text_literally() {
        assert_eq!(roff(".hidden"), "\\&.hidden");
        assert_eq!(roff("a\\b --x"), "a\\eb \\-\\-x");
    }

    #[test]
    fn every_command_has_an_exit_status() {
        let command = command();
        for sub in command.get_subcommands() {
            assert!(
                !extra(sub.get_name()).exit_status.is_empty(),
                "{}",
                sub.get_name()
            );
        }
    }
}
