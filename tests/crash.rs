//! Crash safety: a real `voxmark` process commits transactions in a loop and is killed with SIGKILL at
//! random moments; after each kill the project opens, `check` passes, and every transaction whose
//! commit had returned (the process printed its id) is there.
//!
//! `VOXMARK_CRASH_KILLS` sets the number of kills (default 100; CI runs the default, run 1000 by hand).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::let_underscore_must_use
)] // test code: a failed unwrap fails the test

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use voxmark::store::{ImageRecord, Project};

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_committed_transaction() {
    let kills: usize = std::env::var("VOXMARK_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.voxmark");
    let mut p = Project::create(&path).unwrap();
    p.add_images(
        &[ImageRecord {
            id: voxmark::core::Id::from_u128(0),
            source: "/nowhere/ct".into(),
            files: vec![],
            kind: "nifti".into(),
            volume_index: 0,
            content_hash: "0".into(),
            series_uid: None,
            modality: Some("CT".into()),
            size: [96, 96, 8],
            spacing_mm: [1.0; 3],
            origin_lps_mm: [0.0; 3],
            direction: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            dtype: "int16".into(),
            components: 1,
            report: None,
        }],
        "human:test",
    )
    .unwrap();
    drop(p);
    let mut rng = Rng(0x5EED_CAFE);
    let mut committed_total = 0usize;
    let mut killed_mid_run = 0usize;
    let started = Instant::now();
    for round in 0..kills {
        let mut child = Command::new(env!("CARGO_BIN_EXE_voxmark"))
            .args([
                "stress-commit",
                path.to_str().unwrap(),
                "--count",
                "1000000",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start voxmark");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(id) = line
                    .strip_prefix("committed ")
                    .and_then(|s| s.split_whitespace().next())
                    .and_then(voxmark::core::Id::parse_full)
                {
                    let _ = tx.send(id);
                }
            }
        });
        // Let it run 0–60 ms (process start included), then kill it wherever it is.
        std::thread::sleep(Duration::from_micros(rng.below(60_000)));
        let _ = child.kill(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let acknowledged: Vec<voxmark::core::Id> = rx.try_iter().collect();
        if !status.success() {
            killed_mid_run += 1;
        }
        committed_total += acknowledged.len();
        let project = Project::open(&path)
            .unwrap_or_else(|e| panic!("round {round}: project does not open: {e}"));
        let findings = project.check().unwrap();
        assert!(
            findings.is_empty(),
            "round {round}: check failed: {findings:?}"
        );
        let doc = project.load_document().unwrap();
        for id in &acknowledged {
            assert!(
                doc.regions.contains_key(id),
                "round {round}: region {id} was committed but is gone"
            );
        }
    }
    println!(
        "{kills} kills ({killed_mid_run} mid-run), {committed_total} acknowledged commits all present, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        committed_total > 0,
        "the writer never got to commit: the test would prove nothing"
    );
}
