//! In-process cost of `idgate::saml::sp::validate_response` on Entra-shaped responses.
//!
//! ```sh
//! cargo run --release --example acs-verify-bench            # 2,000 responses
//! cargo run --release --example acs-verify-bench -- 5000 3  # 5,000 responses, 3 rounds
//! ```
//!
//! Builds N distinct responses (one per user, assertion-signed like Entra's default) with the
//! committed test key through `idgate::saml::test_idp`, checks that every one verifies, then
//! times validate_response over all of them on one thread and on two threads (each taking
//! half), printing µs per call and calls per second for each round, and the CPU time per call
//! (which other processes on the machine do not inflate). Signing is not timed.

use std::time::{Duration, Instant};

use idgate::saml::sp::{Expectation, IdpSettings, SpSettings, init, validate_response};
use idgate::saml::test_idp::{ACS, Entra, IDP, REQUEST_ID, SP, b64, cert_der};
use time::OffsetDateTime;
use time::macros::datetime;

const T: OffsetDateTime = datetime!(2026-03-01 10:00:00 UTC);
const EXPECT: Expectation<'static> = Expectation {
    in_response_to: Some(REQUEST_ID),
    allow_unsolicited: false,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(2_000, |a| a.parse().expect("N"));
    let rounds: usize = args.next().map_or(3, |a| a.parse().expect("rounds"));
    init().expect("xmlsec starts");

    let sp = SpSettings {
        entity_id: SP.into(),
        acs_url: ACS.into(),
        clock_skew: Duration::from_secs(120),
    };
    let idp = IdpSettings {
        entity_id: IDP.into(),
        certificates_der: vec![cert_der("idp-cert")],
    };
    let now = T + time::Duration::seconds(30);

    let start = Instant::now();
    let responses: Vec<String> = (0..n)
        .map(|i| {
            let mut r = Entra::new(T + time::Duration::milliseconds(i as i64));
            r.name_id = format!("user{i}@acme.com");
            b64(&r.xml())
        })
        .collect();
    let bytes = responses.iter().map(String::len).sum::<usize>() / n.max(1);
    println!(
        "built {n} signed responses ({bytes} base64 characters each) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    for (i, r) in responses.iter().enumerate() {
        let v = validate_response(r, &sp, &idp, &EXPECT, now)
            .unwrap_or_else(|f| panic!("response {i} does not verify: {f}"));
        assert_eq!(v.name_id, format!("user{i}@acme.com"));
    }

    // Time on the CPU as well as wall time: on a shared 2-core machine the wall clock also
    // counts the time other processes held the core.
    let run = |chunk: &[String]| {
        let cpu = thread_cpu();
        for r in chunk {
            let v = validate_response(r, &sp, &idp, &EXPECT, now).expect("verifies");
            std::hint::black_box(v);
        }
        thread_cpu().zip(cpu).map(|(end, start)| end - start)
    };
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    for round in 1..=rounds {
        let start = Instant::now();
        let cpu_one = run(&responses);
        let one = start.elapsed();

        let start = Instant::now();
        let cpu_two: Option<Duration> = std::thread::scope(|s| {
            let threads: Vec<_> = responses
                .chunks(n.div_ceil(2).max(1))
                .map(|chunk| s.spawn(move || run(chunk)))
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("bench thread"))
                .sum()
        });
        let two = start.elapsed();

        let cpu = |d: Option<Duration>| d.map_or("?".into(), |d| format!("{:.1}", per_call(d)));
        println!(
            "round {round}: 1 thread {:6.1} µs/call ({} µs CPU) {:5.0} calls/s | \
             2 threads {:5.0} calls/s ({} µs CPU/call)",
            per_call(one),
            cpu(cpu_one),
            n as f64 / one.as_secs_f64(),
            n as f64 / two.as_secs_f64(),
            cpu(cpu_two),
        );
    }
}

/// This thread's time on the CPU so far (Linux: /proc/thread-self/schedstat, in ns).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}
