//! Keeping secrets out of output: the password of a URL's `user:password@` is shown as
//! `***` wherever a URL or a message is printed or recorded.

use std::borrow::Cow;

/// What stands for a password in output.
pub(crate) const MASK: &str = "***";

/// `text` with the password of its URL's user info replaced by [`MASK`]:
/// `http://user:secret@host/` becomes `http://user:***@host/`.
///
/// Works on the text as typed (it need not be a valid URL), so every line of a list,
/// invalid ones included, can be shown. As the URL standard reads `http` and `https`, the
/// authority starts after the scheme's `:` and any number of `/` and `\` (`http:u:p@h/`
/// and `http:\\u:p@h/` have a password too) and ends at the first `/`, `\`, `?` or `#`;
/// its user info is what precedes the last `@` in it.
pub(crate) fn redact_url(text: &str) -> Cow<'_, str> {
    // Most lines hold no `@` at all: nothing to look for then.
    if !text.as_bytes().contains(&b'@') {
        return Cow::Borrowed(text);
    }
    let Some(scheme_end) = text.find(':') else {
        return Cow::Borrowed(text);
    };
    let scheme = text[..scheme_end].trim_start();
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return Cow::Borrowed(text);
    }
    let after = &text[scheme_end + 1..];
    let start = scheme_end + 1 + (after.len() - after.trim_start_matches(['/', '\\']).len());
    let rest = &text[start..];
    let authority_len = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_len].rfind('@') else {
        return Cow::Borrowed(text);
    };
    let Some(colon) = rest[..at].find(':') else {
        return Cow::Borrowed(text);
    };
    let password_start = start + colon + 1;
    let password_end = start + at;
    if password_start == password_end {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!(
        "{}{MASK}{}",
        &text[..password_start],
        &text[password_end..]
    ))
}

/// What to show for a line of a list: its text with the password masked
/// ([`redact_url`]), and, if the parsed `url` has a password that the text still shows
/// (a form the text rules do not catch), the parsed URL with its password masked instead.
pub(crate) fn shown(text: &str, url: Option<&url::Url>) -> String {
    let masked = redact_url(text);
    let Some(url) = url else {
        return masked.into_owned();
    };
    let secrets = secrets_of(url);
    if secrets.iter().any(|s| masked.contains(s.as_str())) {
        let mut url = url.clone();
        let _ = url.set_password(Some(MASK));
        return url.to_string();
    }
    masked.into_owned()
}

/// The password of `url` in the forms it may appear in a message (as written, percent-
/// decoded), longest first; empty when the URL carries none.
pub(crate) fn secrets_of(url: &url::Url) -> Vec<String> {
    let Some(raw) = url.password().filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    let mut forms = vec![raw.to_string()];
    let decoded = percent_decode(raw);
    if decoded != raw {
        forms.push(decoded);
    }
    forms.sort_by_key(|s| std::cmp::Reverse(s.len()));
    forms
}

/// `message` with every occurrence of each secret replaced by [`MASK`].
pub(crate) fn scrub(message: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(message.to_string(), |m, s| m.replace(s.as_str(), MASK))
}

/// Percent-decodes (lossily: invalid UTF-8 becomes U+FFFD).
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_masked_and_the_rest_kept_as_typed() {
        assert_eq!(
            redact_url("http://user:secret@Example.com:8080/a?b#c"),
            "http://user:***@Example.com:8080/a?b#c"
        );
        assert_eq!(redact_url("https://u:p@ss@h/"), "https://u:***@h/");
        assert_eq!(redact_url("http://u:s@h\\path"), "http://u:***@h\\path");
        assert_eq!(redact_url("ftp://u:s@h"), "ftp://u:***@h");
    }

    #[test]
    fn the_forms_the_url_standard_reads_as_an_authority_are_masked_too() {
        for (text, want) in [
            ("http:user:PASS@host/", "http:user:***@host/"),
            ("http:/user:PASS@host/", "http:/user:***@host/"),
            ("http:\\\\user:PASS@host/", "http:\\\\user:***@host/"),
            ("HTTPS:///u:PASS@host", "HTTPS:///u:***@host"),
            ("  http://u:PASS@host", "  http://u:***@host"),
        ] {
            assert_eq!(redact_url(text), want, "{text}");
        }
    }

    #[test]
    fn what_is_shown_never_holds_the_parsed_password() {
        for text in [
            "http:user:PASS@host/",
            "http:\\\\user:PASS@host/x",
            "http://u:PA\rSS@host/",
            "http://u:p%41SS@host/",
        ] {
            let url = url::Url::parse(text).unwrap();
            let shown = shown(text, Some(&url));
            assert!(
                !shown.contains("PASS") && !shown.contains("pASS"),
                "{text}: {shown}"
            );
            assert!(shown.contains("***"), "{shown}");
        }
    }

    #[test]
    fn text_without_a_password_is_unchanged() {
        for text in [
            "http://example.com/",
            "http://user@example.com/",
            "http://example.com/a@b:c",
            "http://u:@h/",
            "not a url",
            "",
        ] {
            assert_eq!(redact_url(text), text);
        }
    }

    #[test]
    fn secrets_are_scrubbed_in_their_written_and_decoded_forms() {
        let url = url::Url::parse("http://u:p%40ss%20w@h/").unwrap();
        let secrets = secrets_of(&url);
        assert_eq!(scrub("a p%40ss%20w b p@ss w c", &secrets), "a *** b *** c");
        assert!(secrets_of(&url::Url::parse("http://u@h/").unwrap()).is_empty());
    }
}
