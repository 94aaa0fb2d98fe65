//! The hit path, repeated, for counting instructions rather than timing them: on this shared
//! machine a criterion time moves by ±20 % between runs, an instruction count under
//! `valgrind --tool=callgrind` does not. `scripts/instructions` runs it and prints the
//! instructions per call of each case.
//!
//! `hot_path CASE N`, CASE one of `none` (setup only), `wire_all`, `wire_billing`, `hit_all`:
//! the typical customer of the benches is cached, then the case runs N times.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

#[path = "../benches/support.rs"]
mod support;

use std::{hint::black_box, time::Duration};

use c360::{
    app::App,
    core::entry::ServedFrom,
    core::read::Freshness,
    core::vocab::{FieldSet, Section, SectionSet},
};

fn main() {
    let case = std::env::args().nth(1).unwrap_or_default();
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (settings, backends, customer, _dir) = support::typical_customer().await;
        let app = App::new(&settings, backends).await.unwrap();
        let profiles = app.profiles().clone();
        let get = || profiles.get(customer, SectionSet::ALL, Freshness::AnyAge, None);
        let entry = get().await.unwrap().entry;
        let billing = SectionSet::of(&[Section::Billing]);
        let age = Duration::from_secs(3);
        match case.as_str() {
            "wire_all" => (0..n).for_each(|_| {
                black_box(
                    entry
                        .encoded
                        .wire(SectionSet::ALL, FieldSet::NONE, ServedFrom::L1, age),
                );
            }),
            "wire_billing" => (0..n).for_each(|_| {
                black_box(
                    entry
                        .encoded
                        .wire(billing, FieldSet::NONE, ServedFrom::L1, age),
                );
            }),
            "hit_all" => {
                for _ in 0..n {
                    black_box(get().await.unwrap());
                }
            }
            _ => {}
        }
    });
}
