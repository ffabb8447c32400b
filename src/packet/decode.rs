//! Decoding of link, network and transport headers (pure, never panics).
