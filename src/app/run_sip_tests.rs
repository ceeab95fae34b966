//! The SIP service under the supervisor: when its endpoint dies anyway (a panic outside the
//! per-datagram guard), the service fails and is started again on the same address.

use super::*;
use crate::app::supervisor::{ServiceState, ServiceStatuses};
use crate::telephony::sip::endpoint::PANIC_IN_TIMERS;

fn options(to: SocketAddr, from: SocketAddr, n: u32) -> Vec<u8> {
    format!(
        "OPTIONS sip:callbox@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-s{n}\r\n\
         From: <sip:ata@{from}>;tag=s{n}\r\nTo: <sip:callbox@{to}>\r\nCall-ID: s{n}@test\r\n\
         CSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Sends OPTIONS until one is answered (the service may be between runs); the status line.
async fn options_answered(peer: &UdpSocket, to: SocketAddr, n: u32) -> String {
    let me = peer.local_addr().expect("addr");
    let mut buf = vec![0u8; 65_536];
    for attempt in 0..50 {
        peer.send_to(&options(to, me, n * 100 + attempt), to)
            .await
            .expect("send");
        let wait = tokio::time::timeout(Duration::from_millis(200), peer.recv_from(&mut buf));
        if let Ok(Ok((len, _))) = wait.await {
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            return text.lines().next().unwrap_or("").to_string();
        }
    }
    panic!("OPTIONS {n} never answered");
}

#[tokio::test]
async fn the_sip_service_is_restarted_when_its_endpoint_dies() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let local = socket.local_addr().expect("addr");
    let mut config = Config::default();
    config.sip.listen = local;
    let (calls, _answered) = mpsc::channel(8);
    let (_stop, stopping) = watch::channel(false);
    let statuses = ServiceStatuses::default();
    let policy = RestartPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_secs(1),
        healthy_after: Duration::from_secs(60),
    };
    let mut supervisor = Supervisor::new(policy, statuses.clone());
    let current = Arc::new(Mutex::new(None));
    supervisor.spawn(sip_service(
        Arc::new(config),
        socket,
        local,
        calls,
        stopping,
        current,
        crate::app::pager::OutboundLine::new(),
    ));
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    assert_eq!(options_answered(&peer, local, 1).await, "SIP/2.0 200 OK");

    peer.send_to(PANIC_IN_TIMERS, local).await.expect("send");
    let mut restarted = false;
    for _ in 0..100 {
        let sip = statuses.get("sip").expect("the sip service's status");
        if sip.restarts >= 1 && matches!(sip.state, ServiceState::Running { .. }) {
            assert!(
                sip.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("panicked")),
                "{:?}",
                sip.last_error
            );
            restarted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(restarted, "{:?}", statuses.get("sip"));
    assert_eq!(
        options_answered(&peer, local, 2).await,
        "SIP/2.0 200 OK",
        "the restarted endpoint answers on the same address"
    );
    supervisor.shutdown(Duration::from_secs(5)).await;
}
