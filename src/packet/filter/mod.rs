//! Filter expressions (a tcpdump subset): parsed, compiled to classic BPF, run in user space.
