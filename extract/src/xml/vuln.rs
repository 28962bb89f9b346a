//! Vulnerability scanner reports: Nessus v2 (`.nessus`) and OpenVAS / Greenbone (GVM)
//! XML. Both become the same [`Scan`]: hosts, findings with severity, CVEs and CVSS.

use std::collections::BTreeMap;
use std::io::BufRead;

use super::{walk_rooted, XmlEvent};
use crate::{Budget, ExtractError, Limits};
use caregate_schemas::extracted::{BySeverity, Host, Scan, Vulnerability};

fn new_scan(tool: &str) -> Scan {
    Scan {
        tool: tool.into(),
        tool_version: None,
        started: None,
        finished: None,
        completed: None,
        hosts: Vec::new(),
        host_count: 0,
        vulnerabilities: Some(BySeverity::default()),
        items: Vec::new(),
    }
}

fn keep(scan: &mut Scan, v: Vulnerability, limits: &Limits) {
    if let Some(counts) = scan.vulnerabilities.as_mut() {
        counts.add_level(v.severity);
    }
    if v.severity >= 1 && scan.items.len() < limits.max_listed {
        scan.items.push(v);
    }
}

pub fn parse_nessus<R: BufRead>(input: R, limits: &Limits, budget: &Budget) -> Result<Scan, ExtractError> {
    let mut scan = new_scan("Nessus");
    let mut host = String::new();
    let mut item: Option<Vulnerability> = None;
    walk_rooted(input, limits, budget, &["NessusClientData_v2"], "a Nessus v2 report", |e| {
        match e {
            XmlEvent::Start(el) => {
                if el.at(&["Report", "ReportHost"]) {
                    host = el.attr("name").unwrap_or_default().to_owned();
                    scan.host_count += 1;
                    if scan.hosts.len() < limits.max_listed {
                        scan.hosts.push(Host { address: host.clone(), ..Host::default() });
                    }
                } else if el.at(&["ReportHost", "ReportItem"]) {
                    let port = el.attr("port").filter(|p| *p != "0").map(|p| format!("{p}/{}", el.attr("protocol").unwrap_or("tcp")));
                    item = Some(Vulnerability {
                        host: host.clone(),
                        port,
                        id: el.attr("pluginID").unwrap_or_default().to_owned(),
                        name: el.attr("pluginName").unwrap_or_default().to_owned(),
                        severity: el.attr("severity").and_then(|s| s.parse().ok()).unwrap_or(0),
                        cvss: None,
                        cves: Vec::new(),
                    });
                }
            }
            XmlEvent::End(el, text) => {
                if el.at(&["HostProperties", "tag"]) {
                    match el.attr("name") {
                        Some("HOST_START") if scan.started.is_none() => scan.started = Some(text.to_owned()),
                        Some("HOST_END") => scan.finished = Some(text.to_owned()),
                        _ => {}
                    }
                } else if el.within("ReportItem") {
                    if let Some(v) = item.as_mut() {
                        match el.name() {
                            "cve" => v.cves.push(text.to_owned()),
                            "cvss3_base_score" => v.cvss = text.parse().ok(),
                            "cvss_base_score" if v.cvss.is_none() => v.cvss = text.parse().ok(),
                            _ => {}
                        }
                    }
                } else if el.name() == "ReportItem" {
                    if let Some(v) = item.take() {
                        keep(&mut scan, v, limits);
                    }
                }
            }
            XmlEvent::Text(_) => {}
        }
        Ok(())
    })?;
    scan.completed = Some(scan.finished.is_some());
    Ok(scan)
}

/// OpenVAS / GVM: `report` (possibly wrapped in another `report` or a `get_reports_response`)
/// → `results/result` with `host`, `port`, `nvt` (`oid`, `name`, `cvss_base`, `refs/ref
/// type="cve"`), `severity` and `threat`.
pub fn parse_openvas<R: BufRead>(input: R, limits: &Limits, budget: &Budget) -> Result<Scan, ExtractError> {
    let mut scan = new_scan("OpenVAS");
    let mut hosts: BTreeMap<String, ()> = BTreeMap::new();
    let mut item: Option<Vulnerability> = None;
    let mut threat = String::new();
    walk_rooted(input, limits, budget, &["report", "get_reports_response"], "an OpenVAS report", |e| {
        match e {
            XmlEvent::Start(el) => {
                if el.at(&["results", "result"]) {
                    threat.clear();
                    item = Some(Vulnerability {
                        host: String::new(),
                        port: None,
                        id: String::new(),
                        name: String::new(),
                        severity: 0,
                        cvss: None,
                        cves: Vec::new(),
                    });
                } else if el.at(&["result", "nvt"]) {
                    if let Some(v) = item.as_mut() {
                        v.id = el.attr("oid").unwrap_or_default().to_owned();
                    }
                } else if el.at(&["nvt", "refs", "ref"]) && el.attr("type") == Some("cve") {
                    if let (Some(v), Some(id)) = (item.as_mut(), el.attr("id")) {
                        v.cves.push(id.to_owned());
                    }
                }
            }
            XmlEvent::End(el, text) => {
                if el.path.len() >= 2 && el.path[el.path.len() - 2] == "report" {
                    match el.name() {
                        "scan_start" => scan.started = Some(text.to_owned()).filter(|t| !t.is_empty()),
                        "scan_end" => scan.finished = Some(text.to_owned()).filter(|t| !t.is_empty()),
                        _ => {}
                    }
                }
                if let Some(v) = item.as_mut() {
                    if el.at(&["result", "host"]) {
                        // The host element holds the address first, then child elements.
                        v.host = text.lines().next().unwrap_or_default().trim().to_owned();
                    } else if el.at(&["result", "port"]) {
                        v.port = Some(text.to_owned());
                    } else if el.at(&["result", "name"]) || (el.at(&["nvt", "name"]) && v.name.is_empty()) {
                        v.name = text.to_owned();
                    } else if el.at(&["result", "severity"]) || (el.at(&["nvt", "cvss_base"]) && v.cvss.is_none()) {
                        v.cvss = text.parse().ok();
                    } else if el.at(&["result", "threat"]) {
                        threat = text.to_owned();
                    } else if el.at(&["nvt", "cve"]) {
                        v.cves.extend(text.split(',').map(str::trim).filter(|c| c.starts_with("CVE-")).map(str::to_owned));
                    }
                }
                if el.at(&["results", "result"]) {
                    if let Some(mut v) = item.take() {
                        let mut by_cvss = BySeverity::default();
                        by_cvss.add_cvss(v.cvss.unwrap_or(0.0));
                        v.severity = match threat.trim() {
                            "Critical" => 4,
                            "High" => 3,
                            "Medium" => 2,
                            "Low" => 1,
                            "Log" | "Debug" | "False Positive" => 0,
                            // No threat stated (or one we do not know): the score's band.
                            _ if by_cvss.critical > 0 => 4,
                            _ if by_cvss.high > 0 => 3,
                            _ if by_cvss.medium > 0 => 2,
                            _ if by_cvss.low > 0 => 1,
                            _ => 0,
                        };
                        if v.severity == 3 && v.cvss.is_some_and(|c| c >= 9.0) {
                            v.severity = 4;
                        }
                        if !v.host.is_empty() {
                            hosts.insert(v.host.clone(), ());
                        }
                        keep(&mut scan, v, limits);
                    }
                }
            }
            XmlEvent::Text(_) => {}
        }
        Ok(())
    })?;
    scan.host_count = hosts.len();
    scan.hosts = hosts.into_keys().take(limits.max_listed).map(|address| Host { address, ..Host::default() }).collect();
    scan.completed = Some(scan.finished.is_some());
    Ok(scan)
}
