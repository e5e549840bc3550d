//! Usage errors: clap's message, shortened, never showing a secret value.

/// The flags whose values may hold a secret: a usage error about one never shows its
/// value (a proxy's password is masked; a header, cookie or login is not shown at all).
const SECRET_FLAGS: [&str; 4] = ["--proxy", "--header", "--cookie", "--user"];

/// clap's error rendered, with the value it quotes masked when it belongs to one of
/// [`SECRET_FLAGS`] (given on the command line or in its `FETCHPOOL_*` variable).
pub(crate) fn masked(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let rendered = e.render().to_string();
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(flag)) => flag.as_str(),
        _ => return rendered,
    };
    let Some(secret) = SECRET_FLAGS.iter().find(|f| flag.contains(**f)) else {
        return rendered;
    };
    let shown = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) if *secret == "--proxy" => {
            crate::redact::redact_url(value).into_owned()
        }
        _ => crate::redact::MASK.to_string(),
    };
    // Rebuilt around clap's own words after the value ("for '--header <HEADER>': ..."),
    // so no form of the value (escaped, cut) can slip through.
    match rendered.find(&format!("for '{flag}'")) {
        Some(at) => format!("error: invalid value '{shown}' {}", &rendered[at..]),
        None => format!("error: invalid value for {flag}\n"),
    }
}

/// clap's rendered error, shortened: the lines before its `Usage:` block, blank lines
/// dropped, the first prefixed with `fetchpool: `, then a pointer to `--help`.
pub(crate) fn usage_error(rendered: &str) -> String {
    let mut out = String::new();
    let kept = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.trim().is_empty());
    for (i, line) in kept.enumerate() {
        if i == 0 {
            out.push_str("fetchpool: ");
            if !line.starts_with("error:") {
                out.push_str("error: ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str("fetchpool: error: invalid arguments\n");
    }
    out.push_str("For more information, try '--help'.\n");
    out
}
