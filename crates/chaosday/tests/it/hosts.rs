//! Other hosts on this machine: the testkit's network namespaces.

pub use chaosday_testkit::netns::Netns;
