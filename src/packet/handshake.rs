//! The TCP handshake tracker: SYN → SYN/ACK → ACK, refused, unanswered (pure).
