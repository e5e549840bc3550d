//! The `fetchpool` command's tests, in one binary (ripgrep's habit: the HTTP stack links
//! once, not once a file). They run the built command against the mock server of
//! [`common`] on 127.0.0.1; `cases/` holds one module a concern.

mod cases;
mod common;
