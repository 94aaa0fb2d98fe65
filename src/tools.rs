//! The tools around the service: the demo, the command-line client, the seeder. They use the
//! service as a caller or an operator would; nothing in it uses them.

pub mod client;
pub mod demo;
pub mod seed;
