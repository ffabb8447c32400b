//! inet_diag answers as the kernel sends them (struct inet_diag_msg and its attributes): the
//! parser must take what is there and never panic, and every problem verdict and health line
//! over what it made must render. The first byte chooses TCP or UDP; the rest is the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::output::health::{Details, InfoRecord, write_details};
use sockscope::sockets::Proto;
use sockscope::sockets::linux::diag::parse_inet;
use sockscope::sockets::problems::problems;

fuzz_target!(|data: &[u8]| {
    let Some((&which, message)) = data.split_first() else {
        return;
    };
    let proto = if which & 1 == 0 { Proto::Tcp } else { Proto::Udp };
    if let Some(mut s) = parse_inet(message, proto) {
        s.problems = problems(&s, None).into();
        let mut line = String::new();
        let all = Details {
            info: true,
            memory: true,
            timers: true,
            problems: true,
        };
        write_details(&mut line, &s, all);
        if let Some(info) = s.tcp() {
            let _ = serde_json::to_string(&InfoRecord::new(info));
        }
    }
});
