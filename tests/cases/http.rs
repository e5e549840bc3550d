//! The HTTP options real sites need: `-u`, `--netrc`, `--proxy`, `--cacert`, `--http1.1`,
//! `--http2`, `--cookies`, `-b`. Against the mock server, and `openssl s_server` as a real
//! TLS peer.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{MockServer, eventually, fetchpool, refused_url, run_jsonl, temp_file};
use assert_cmd::prelude::OutputAssertExt;

/// The request head the server got first, lower-cased.
fn first_request(server: &MockServer) -> String {
    server.requests()[0].to_lowercase()
}

#[test]
fn user_sends_basic_auth_to_the_urls_own_host_only() {
    let a = MockServer::start();
    let b = MockServer::start_on("127.0.0.2");
    let url = a.url(&format!("/goto?{}", b.url("/bytes/1")));
    fetchpool().args(["-u", "user:pass", &url]).assert().code(0);
    // base64("user:pass")
    assert!(first_request(&a).contains("authorization: basic dxnlcjpwyxnz"));
    assert!(!first_request(&b).contains("authorization"));
}

#[test]
fn user_without_a_password_reads_it_from_the_environment() {
    let server = MockServer::start();
    fetchpool()
        .args(["-u", "user", &server.url("/bytes/1")])
        .env("FETCHPOOL_PASSWORD", "pass")
        .assert()
        .code(0);
    assert!(first_request(&server).contains("authorization: basic dxnlcjpwyxnz"));
}

#[test]
fn netrc_logins_are_sent_to_the_hosts_they_name() {
    let server = MockServer::start();
    let netrc = temp_file("machine 127.0.0.1 login user password pass\n");
    fetchpool()
        .args(["--netrc", &server.url("/bytes/1")])
        .env("NETRC", netrc.path())
        .assert()
        .code(0);
    assert!(first_request(&server).contains("authorization: basic dxnlcjpwyxnz"));
    fetchpool()
        .args(["--netrc", "http://127.0.0.1:1/"])
        .env("NETRC", "/nonexistent/netrc")
        .assert()
        .code(2);
}

#[test]
fn proxy_overrides_the_environment() {
    let proxy = MockServer::start();
    let target = refused_url();
    fetchpool()
        .args(["--proxy", &proxy.base_url(), &target])
        .env("http_proxy", refused_url())
        .assert()
        .code(1); // the mock proxy answers 404
    assert!(
        first_request(&proxy).starts_with(&format!("get {}", target.to_lowercase())),
        "the proxy got the absolute URL: {}",
        first_request(&proxy)
    );
}

#[test]
fn http1_1_works_and_http2_prior_knowledge_fails_against_an_http1_server() {
    let server = MockServer::start();
    fetchpool()
        .args(["--http1.1", &server.url("/bytes/1")])
        .assert()
        .code(0);
    let records = run_jsonl(
        fetchpool().args(["--http2", "-f", "jsonl", &server.url("/bytes/1")]),
        1,
    );
    assert_eq!(records[&1]["ok"], false);
}

#[test]
fn cookies_set_by_a_server_are_sent_back_for_the_rest_of_the_run() {
    let server = MockServer::start();
    let list = temp_file(format!(
        "{}\n{}\n",
        server.url("/setcookie"),
        server.url("/bytes/1")
    ));
    fetchpool()
        .arg(list.path())
        .args(["--cookies", "-w", "1"])
        .assert()
        .code(0);
    assert!(
        server.requests()[1]
            .to_lowercase()
            .contains("cookie: session=abc")
    );
}

#[test]
fn cookie_flags_go_to_the_urls_own_host_only() {
    let a = MockServer::start();
    let b = MockServer::start_on("127.0.0.2");
    let url = a.url(&format!("/goto?{}", b.url("/bytes/1")));
    fetchpool()
        .args(["-b", "a=1", "-b", "b=2", &url])
        .assert()
        .code(0);
    assert!(first_request(&a).contains("cookie: a=1; b=2"));
    assert!(!first_request(&b).contains("cookie"));
}

#[test]
fn unusable_http_option_values_are_usage_errors() {
    for args in [
        &["-b", "no-equals"][..],
        &["-b", "a=b;c"][..],
        &["--proxy", "ftp://p:1"][..],
        &["--cacert", "/nonexistent.pem"][..],
    ] {
        fetchpool()
            .args(args)
            .arg("http://127.0.0.1:1/")
            .assert()
            .code(2);
    }
    let not_pem = temp_file("not a certificate");
    fetchpool()
        .arg("--cacert")
        .arg(not_pem.path())
        .arg("http://127.0.0.1:1/")
        .assert()
        .code(2);
}

/// `openssl s_server -www` on 127.0.0.1 with a fresh self-signed certificate; killed on drop.
struct TlsServer {
    child: Child,
    port: u16,
    cert: tempfile::TempDir,
}

/// How the server's certificate is made.
#[derive(Clone, Copy, PartialEq)]
enum Cert {
    /// An end-entity certificate for 127.0.0.1 (`CA:FALSE`).
    EndEntity,
    /// The usual `openssl req -x509` one: a CA certificate (`CA:TRUE`) for 127.0.0.1.
    UsualSelfSigned,
    /// The usual one, but for another host name.
    OtherName,
}

impl TlsServer {
    fn start() -> Self {
        Self::with(Cert::EndEntity)
    }

    fn with(kind: Cert) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut req = Command::new("openssl");
        req.args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ]);
        match kind {
            Cert::EndEntity => {
                std::fs::write(
                    dir.path().join("openssl.cnf"),
                    "[req]\ndistinguished_name=dn\nx509_extensions=ext\nprompt=no\n\
                     [dn]\nCN=127.0.0.1\n\
                     [ext]\nbasicConstraints=critical,CA:FALSE\n\
                     keyUsage=critical,digitalSignature,keyEncipherment\n\
                     extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
                )
                .unwrap();
                req.arg("-config").arg(dir.path().join("openssl.cnf"));
            }
            // What curl's and wget2's users make: openssl's defaults (a CA certificate).
            Cert::UsualSelfSigned => {
                req.args([
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                ]);
            }
            Cert::OtherName => {
                req.args([
                    "-subj",
                    "/CN=other.test",
                    "-addext",
                    "subjectAltName=DNS:other.test",
                ]);
            }
        }
        let status = req
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed (.ci/run installs it)");
        assert!(status.success());
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new("openssl")
            .args(["s_server", "-www", "-quiet", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(dir.path().join("cert.pem"))
            .arg("-key")
            .arg(dir.path().join("key.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        eventually("openssl s_server listens", || {
            std::net::TcpStream::connect_timeout(
                &format!("127.0.0.1:{port}").parse().unwrap(),
                Duration::from_millis(100),
            )
            .is_ok()
        });
        TlsServer {
            child,
            port,
            cert: dir,
        }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.port)
    }

    fn cert(&self) -> std::path::PathBuf {
        self.cert.path().join("cert.pem")
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cacert_trusts_a_self_signed_server_that_is_refused_without_it() {
    let server = TlsServer::start();
    let url = format!("https://127.0.0.1:{}/", server.port);
    let records = run_jsonl(fetchpool().args(["-f", "jsonl", &url]), 1);
    let record = &records[&1];
    assert_eq!(record["error_kind"], "tls", "{record}");
    let error = record["error"].as_str().unwrap();
    assert!(
        error.contains("not signed by a trusted authority"),
        "{record}"
    );
    assert!(
        error.contains("--cacert FILE") && error.contains("-k"),
        "what to do: {error}"
    );
    fetchpool()
        .arg("--cacert")
        .arg(server.cert.path().join("cert.pem"))
        .arg(&url)
        .assert()
        .code(0);
}

#[test]
fn cookie_flags_and_the_jar_share_one_cookie_header() {
    let server = MockServer::start();
    let list = temp_file(format!(
        "{}\n{}\n",
        server.url("/setcookie"),
        server.url("/bytes/1")
    ));
    fetchpool()
        .arg(list.path())
        .args(["--cookies", "-b", "a=1", "-w", "1"])
        .assert()
        .code(0);
    let second = server.requests()[1].to_lowercase();
    assert_eq!(second.matches("cookie:").count(), 1, "{second}");
    assert!(second.contains("cookie: a=1; session=abc"), "{second}");
}

#[test]
fn cacert_trusts_the_usual_openssl_self_signed_certificate_as_curl_does() {
    let server = TlsServer::with(Cert::UsualSelfSigned);
    let records = run_jsonl(fetchpool().args(["-f", "jsonl", &server.url()]), 1);
    let error = records[&1]["error"].as_str().unwrap();
    assert!(
        error.contains("CA certificate as its own") || error.contains("trusted authority"),
        "{error}"
    );
    assert!(error.contains("--cacert"), "what to do: {error}");
    fetchpool()
        .arg("--cacert")
        .arg(server.cert())
        .arg(server.url())
        .assert()
        .code(0);
    // Another certificate of the same kind does not make this one trusted.
    let other = TlsServer::with(Cert::UsualSelfSigned);
    let records = run_jsonl(
        fetchpool()
            .args(["-f", "jsonl", "--cacert"])
            .arg(other.cert())
            .arg(server.url()),
        1,
    );
    assert_eq!(records[&1]["error_kind"], "tls", "{}", records[&1]);
}

#[test]
fn a_listed_certificate_must_still_name_the_host() {
    let server = TlsServer::with(Cert::OtherName);
    let records = run_jsonl(
        fetchpool()
            .args(["-f", "jsonl", "--cacert"])
            .arg(server.cert())
            .arg(server.url()),
        1,
    );
    let error = records[&1]["error"].as_str().unwrap();
    assert!(error.contains("not valid for this host name"), "{error}");
    assert!(error.contains("-k"), "{error}");
}
