//! Per-host statistics as iputils ping keeps them: transmitted, received, duplicates, errors,
//! and min/avg/max/mdev of the round-trip times (mdev = sqrt(mean(t²) − mean(t)²)).

/// Round-trip times, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rtt {
    pub n: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub sum2: f64,
}

impl Rtt {
    /// Adds one sample.
    pub fn add(&mut self, ms: f64) {
        if self.n == 0 || ms < self.min {
            self.min = ms;
        }
        if self.n == 0 || ms > self.max {
            self.max = ms;
        }
        self.n += 1;
        self.sum += ms;
        self.sum2 += ms * ms;
    }

    /// The mean, if there is a sample.
    pub fn avg(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// The mean deviation as iputils computes it: sqrt(mean(t²) − mean(t)²).
    pub fn mdev(&self) -> Option<f64> {
        let avg = self.avg()?;
        let var = self.sum2 / self.n as f64 - avg * avg;
        Some(if var > 0.0 { var.sqrt() } else { 0.0 })
    }
}

/// The counters of one host.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostStats {
    pub transmitted: u64,
    pub received: u64,
    pub duplicates: u64,
    pub errors: u64,
    pub rtt: Rtt,
}

impl HostStats {
    /// Packet loss in percent of the transmitted requests (0 when nothing was sent).
    pub fn loss_pct(&self) -> f64 {
        if self.transmitted == 0 {
            return 0.0;
        }
        let lost = self.transmitted.saturating_sub(self.received);
        lost as f64 * 100.0 / self.transmitted as f64
    }

    /// Whether the host answered at least once.
    pub fn answered(&self) -> bool {
        self.received > 0
    }
}

/// A percentage the way iputils prints it (`%g`): `0`, `100`, `33.3333`.
pub fn percent_text(p: f64) -> String {
    if p.fract() == 0.0 {
        return format!("{p:.0}");
    }
    let s = format!("{p:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A round-trip time the way iputils prints a reply's: 3 decimals below 1 ms, 2 below 10,
/// 1 below 100, none above.
pub fn time_text(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else if ms >= 1.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdev_as_iputils() {
        let mut r = Rtt::default();
        for t in [1.0, 2.0, 3.0, 4.0] {
            r.add(t);
        }
        assert_eq!((r.min, r.max, r.n), (1.0, 4.0, 4));
        assert_eq!(r.avg(), Some(2.5));
        // mean(t²) = 7.5, mean² = 6.25 → sqrt(1.25)
        assert!((r.mdev().unwrap() - 1.25f64.sqrt()).abs() < 1e-12);
        let mut one = Rtt::default();
        one.add(0.05);
        assert_eq!(one.mdev(), Some(0.0));
        assert_eq!(Rtt::default().avg(), None);
        assert_eq!(Rtt::default().mdev(), None);
    }

    #[test]
    fn loss_and_formatting() {
        let s = HostStats {
            transmitted: 3,
            received: 2,
            ..Default::default()
        };
        assert_eq!(percent_text(s.loss_pct()), "33.3333");
        assert_eq!(percent_text(HostStats::default().loss_pct()), "0");
        let all = HostStats {
            transmitted: 4,
            received: 0,
            ..Default::default()
        };
        assert_eq!(percent_text(all.loss_pct()), "100");
        assert!(!all.answered());
        assert_eq!(percent_text(12.5), "12.5");
        assert_eq!(time_text(0.0456), "0.046");
        assert_eq!(time_text(1.234), "1.23");
        assert_eq!(time_text(12.34), "12.3");
        assert_eq!(time_text(123.4), "123");
    }
}
