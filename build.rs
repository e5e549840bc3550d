//! Sets `cfg(process_pool)` where `--executor process` can exist: on Linux, where the
//! executor crate's process pool builds (it needs `PR_SET_PDEATHSIG` and `/proc/self/exe`).
//! `FETCHPOOL_NO_PROCESS_POOL=1` leaves it unset on Linux too, so that `.ci/run` checks
//! that the command builds the way it does on macOS or the BSDs.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(process_pool)");
    println!("cargo::rerun-if-env-changed=FETCHPOOL_NO_PROCESS_POOL");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if linux && std::env::var_os("FETCHPOOL_NO_PROCESS_POOL").is_none() {
        println!("cargo::rustc-cfg=process_pool");
    }
}
