//! The standard `process_*` series, read from `/proc/self` at each scrape (Linux; elsewhere
//! the collector writes nothing): CPU time, resident and virtual memory, open and maximum file
//! descriptors, threads and start time. CPU ticks are converted at `USER_HZ` = 100, which is
//! what Linux reports `/proc` times in on every architecture it runs on.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

const USER_HZ: f64 = 100.0;

#[derive(Debug)]
pub struct Process;

/// What `/proc/self` says now.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reading {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
    pub threads: u64,
    pub start_time_seconds: Option<f64>,
}

impl Reading {
    pub fn now() -> Option<Reading> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        // Fields after the command name (which may hold spaces), numbered from 3 (`state`).
        let after = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let (utime, stime, start_ticks) = (field(14)?, field(15)?, field(22)?);
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        };
        let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        });
        let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| {
                l.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
            });
        Some(Reading {
            cpu_seconds: (utime + stime) as f64 / USER_HZ,
            resident_bytes: kib("VmRSS:").unwrap_or(0) * 1024,
            virtual_bytes: kib("VmSize:").unwrap_or(0) * 1024,
            open_fds,
            max_fds,
            threads: kib("Threads:").unwrap_or(0),
            start_time_seconds: boot_time.map(|b| b as f64 + start_ticks as f64 / USER_HZ),
        })
    }
}

fn one(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let help = format!("{help}.");
    let mut metric = e.encode_descriptor(name, &help, None, kind)?;
    match kind {
        MetricType::Counter => metric.encode_counter::<NoLabelSet, _, f64>(&value, None),
        _ => metric.encode_gauge(&value),
    }
}

impl Collector for Process {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(r) = Reading::now() else {
            return Ok(());
        };
        let (gauge, counter) = (MetricType::Gauge, MetricType::Counter);
        let e = &mut e;
        one(
            e,
            "process_cpu_seconds",
            "User and system CPU time spent",
            counter,
            r.cpu_seconds,
        )?;
        one(
            e,
            "process_resident_memory_bytes",
            "Resident memory size",
            gauge,
            r.resident_bytes as f64,
        )?;
        one(
            e,
            "process_virtual_memory_bytes",
            "Virtual memory size",
            gauge,
            r.virtual_bytes as f64,
        )?;
        one(
            e,
            "process_open_fds",
            "Open file descriptors",
            gauge,
            r.open_fds as f64,
        )?;
        if let Some(max) = r.max_fds {
            one(
                e,
                "process_max_fds",
                "Maximum number of open file descriptors",
                gauge,
                max as f64,
            )?;
        }
        one(e, "process_threads", "OS threads", gauge, r.threads as f64)?;
        if let Some(start) = r.start_time_seconds {
            one(
                e,
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch",
                gauge,
                start,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_self_reads_this_process() {
        let r = Reading::now().unwrap();
        assert!(r.resident_bytes > 1 << 20, "{r:?}");
        assert!(r.virtual_bytes >= r.resident_bytes, "{r:?}");
        assert!(r.open_fds >= 3, "{r:?}");
        assert!(r.max_fds.unwrap() >= r.open_fds, "{r:?}");
        assert!(r.threads >= 1, "{r:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = r.start_time_seconds.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 86_400.0 * 365.0,
            "{start} vs {now}"
        );
    }
}
