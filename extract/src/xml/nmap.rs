//! nmap `-oX` output: hosts up, their open ports and services, when the scan ran and
//! whether it finished.

use std::io::BufRead;

use chrono::DateTime;

use super::{walk_rooted, XmlEvent};
use crate::{Budget, ExtractError, Limits};
use caregate_schemas::extracted::{Host, OpenPort, Scan};

fn epoch(s: Option<&str>) -> Option<String> {
    let secs = s?.parse::<i64>().ok()?;
    DateTime::from_timestamp(secs, 0).map(|d| d.to_rfc3339())
}

/// The scan, and why it stops short when the file was cut off (a scan interrupted, a
/// file truncated in transit): the hosts read to the end are kept, the last one is not.
pub fn parse<R: BufRead>(input: R, limits: &Limits, budget: &Budget) -> Result<(Scan, Option<String>), ExtractError> {
    let mut scan = Scan {
        tool: "nmap".into(),
        tool_version: None,
        started: None,
        finished: None,
        completed: Some(false),
        hosts: Vec::new(),
        host_count: 0,
        vulnerabilities: None,
        items: Vec::new(),
    };
    let mut host = Host::default();
    let mut host_up = false;
    let mut port: Option<OpenPort> = None;
    let mut port_open = false;
    let walked = walk_rooted(input, limits, budget, &["nmaprun"], "an nmap report", |e| {
        match e {
            XmlEvent::Start(el) => {
                if el.path.len() == 1 {
                    scan.tool_version = el.attr("version").map(str::to_owned);
                    scan.started = epoch(el.attr("start"));
                    return Ok(());
                }
                match el.path.iter().map(String::as_str).collect::<Vec<_>>()[1..] {
                    ["host"] => {
                        host = Host::default();
                        host_up = false;
                    }
                    ["host", "status"] => host_up = el.attr("state") == Some("up"),
                    // The IP address names the host; a MAC address only completes it.
                    ["host", "address"] if el.attr("addrtype") != Some("mac") && host.address.is_empty() => {
                        host.address = el.attr("addr").unwrap_or_default().to_owned();
                    }
                    ["host", "hostnames", "hostname"] => {
                        if let Some(n) = el.attr("name") {
                            host.hostnames.push(n.to_owned());
                        }
                    }
                    ["host", "ports", "port"] => {
                        port_open = false;
                        port = el.attr("portid").and_then(|p| p.parse().ok()).map(|p| OpenPort {
                            port: p,
                            protocol: el.attr("protocol").unwrap_or("tcp").to_owned(),
                            service: None,
                            product: None,
                            version: None,
                        });
                    }
                    ["host", "ports", "port", "state"] => port_open = el.attr("state") == Some("open"),
                    ["host", "ports", "port", "service"] => {
                        if let Some(p) = port.as_mut() {
                            p.service = el.attr("name").map(str::to_owned);
                            p.product = el.attr("product").map(str::to_owned);
                            p.version = el.attr("version").map(str::to_owned);
                        }
                    }
                    ["runstats", "finished"] => {
                        scan.finished = epoch(el.attr("time"));
                        scan.completed = Some(el.attr("exit") == Some("success"));
                    }
                    _ => {}
                }
            }
            XmlEvent::End(el, _) => {
                if el.at(&["host", "ports", "port"]) {
                    if let Some(p) = port.take().filter(|_| port_open) {
                        host.open_ports.push(p);
                    }
                } else if el.path.len() == 2 && el.name() == "host" && host_up {
                    scan.host_count += 1;
                    if scan.hosts.len() < limits.max_listed {
                        scan.hosts.push(std::mem::take(&mut host));
                    }
                }
            }
            XmlEvent::Text(_) => {}
        }
        Ok(())
    });
    match walked {
        Ok(()) => Ok((scan, None)),
        Err(ExtractError::Unreadable(why)) if scan.host_count > 0 => {
            scan.completed = Some(false);
            Ok((scan, Some(why)))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_scan_keeps_its_complete_hosts() {
        let xml = r#"<?xml version="1.0"?><nmaprun scanner="nmap" start="1700000000" version="7.94">
<host><status state="up"/><address addr="192.0.2.10" addrtype="ipv4"/><ports><port protocol="tcp" portid="443"><state state="open"/><service name="https"/></port></ports></host>
<host><status state="up"/><address addr="192.0.2.11" addrtype="ipv4"/><ports><port protocol="tcp" portid="3389"><state state="op"#;
        let budget = Budget::new(std::time::Duration::from_secs(10));
        let (scan, truncated) = parse(xml.as_bytes(), &Limits::default(), &budget).unwrap();
        assert!(truncated.is_some());
        assert_eq!(scan.host_count, 1, "the complete host only");
        assert_eq!(scan.hosts[0].open_ports[0].port, 443);
        assert_eq!(scan.completed, Some(false));
        assert!(parse(&b"<nmaprun><host><status"[..], &Limits::default(), &budget).is_err(), "nothing complete: unreadable");
    }
}
