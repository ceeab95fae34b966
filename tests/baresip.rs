//! A real SIP softphone (baresip) calls the daemon: answered, recorded, hung up.
//!
//! baresip has no sound card here: its audio source is the aufile module playing a generated
//! 3 s 440 Hz tone; when the file ends baresip hangs up (sends BYE).

mod common;

use common::*;
use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn baresip_call_is_answered_recorded_and_hung_up() {
    let _g = serial();
    require_tool("baresip");
    let daemon = Daemon::start(DaemonConfig::answering());
    let conf = tempfile::Builder::new()
        .prefix("baresip-")
        .tempdir()
        .unwrap();
    let sip_port = free_udp_port();
    let rtp = free_udp_port_range(20);
    let modules = [
        "/usr/lib/baresip/modules",
        "/usr/lib/x86_64-linux-gnu/baresip/modules",
        "/usr/lib/aarch64-linux-gnu/baresip/modules",
    ]
    .into_iter()
    .find(|d| std::path::Path::new(d).join("aufile.so").exists())
    .expect("baresip modules (aufile.so, g711.so) not found: install the baresip package");
    let config = format!(
        "poll_method\t\tepoll\n\
         sip_listen\t\t127.0.0.1:{sip_port}\n\
         net_interface\t\t127.0.0.1\n\
         call_local_timeout\t60\n\
         audio_player\t\taufile,{out}\n\
         audio_source\t\taufile,{tone}\n\
         audio_alert\t\taufile,{out}\n\
         audio_srate\t\t8000\n\
         audio_channels\t\t1\n\
         rtp_ports\t\t{rtp}-{rtp_max}\n\
         module_path\t\t{modules}\n\
         module\t\t\tg711.so\n\
         module\t\t\taufile.so\n\
         module_app\t\taccount.so\n\
         module_app\t\tmenu.so\n",
        out = conf.path().join("heard.wav").display(),
        tone = assets().join("tone.wav").display(),
        rtp_max = rtp + 19,
    );
    fs::write(conf.path().join("config"), config).unwrap();
    fs::write(
        conf.path().join("accounts"),
        format!("<sip:+13125550199@127.0.0.1:{sip_port}>;regint=0;audio_codecs=PCMU\n"),
    )
    .unwrap();
    fs::write(conf.path().join("contacts"), "").unwrap();

    let out = Command::new("timeout")
        .arg(format!("{}", scaled(Duration::from_secs(40)).as_secs()))
        .arg("baresip")
        .arg("-f")
        .arg(conf.path())
        .arg("-e")
        .arg(format!("/dial sip:callbox@{}", daemon.sip))
        // quit 12 s after start; the call ends earlier, when the 3 s tone runs out
        .args(["-t", "12"])
        .stdin(Stdio::null())
        .output()
        .expect("run baresip");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let ctx = format!(
        "baresip ({}) output:\n{log}\ncallbox log:\n{}",
        out.status,
        daemon.log_tail(100)
    );
    assert!(
        log.contains("Call established"),
        "baresip's call was not answered\n{ctx}"
    );
    assert!(
        log.contains("terminated"),
        "baresip's call did not end\n{ctx}"
    );

    let rec = daemon.one_record();
    assert!(!rec["answered_at"].is_null(), "record: {rec:#}\n{ctx}");
    assert_eq!(rec["codec"], "PCMU", "record: {rec:#}");
    assert_eq!(rec["caller"]["number"], "+13125550199", "record: {rec:#}");
    let wav = Wav::read(&daemon.recording_path(&rec));
    let rms = wav.rms();
    eprintln!("baresip call recorded: {:?}, rms {rms:.3}", wav.duration());
    assert!(
        wav.duration() >= Duration::from_millis(2000),
        "recording is only {:?} long; baresip sent 3 s",
        wav.duration()
    );
    assert!(
        rms > 0.05,
        "recording is (nearly) silent: rms {rms:.4}; baresip sent a 440 Hz tone at half scale"
    );
}
