//! Two real WebRTC peers (webrtc-rs) on loopback: the offer/answer exchange the client
//! and server do over the WebSocket, both data channels opening, and bytes crossing each
//! way on each.
#![cfg(feature = "transport")]

use std::time::Duration;

use nexus_net::transport::rtc::{Channel, IceServer, RtcEvent, RtcPeer};
use tokio::sync::mpsc::Receiver;

async fn until(events: &mut Receiver<RtcEvent>, want: impl Fn(&RtcEvent) -> bool) -> RtcEvent {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let e = events.recv().await.expect("peer event stream ended");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("timed out waiting for a WebRTC event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_answer_opens_both_channels_and_carries_bytes() {
    let udp = vec!["127.0.0.1:0".to_owned()];
    let (pending, offer) = RtcPeer::offer(&udp, &[]).await.unwrap();
    assert!(offer.contains("m=application"), "the offer negotiates SCTP data channels");
    let (server, mut server_events, answer) = RtcPeer::answer(&offer, &udp, &[]).await.unwrap();
    let (client, mut client_events) = pending.accept(&answer).await.unwrap();
    // Both channels open, in either order.
    let mut open = Vec::new();
    while open.len() < 2 {
        if let RtcEvent::Open(c) = until(&mut client_events, |e| matches!(e, RtcEvent::Open(_))).await
            && !open.contains(&c)
        {
            open.push(c);
        }
    }
    // The unreliable channel may drop; send until one arrives.
    let mut got = None;
    for _ in 0..50 {
        client.send(Channel::Realtime, &[1, 2, 3]).await.unwrap();
        if let Ok(Some(RtcEvent::Message(c, b))) = tokio::time::timeout(Duration::from_millis(100), async {
            loop {
                match server_events.recv().await {
                    Some(RtcEvent::Message(c, b)) => return Some(RtcEvent::Message(c, b)),
                    Some(_) => {}
                    None => return None,
                }
            }
        })
        .await
        {
            got = Some((c, b));
            break;
        }
    }
    assert_eq!(got, Some((Channel::Realtime, vec![1, 2, 3])));
    client.send(Channel::Events, b"event").await.unwrap();
    let e = until(&mut server_events, |e| matches!(e, RtcEvent::Message(Channel::Events, _))).await;
    assert_eq!(e, RtcEvent::Message(Channel::Events, b"event".to_vec()));
    server.send(Channel::Events, b"back").await.unwrap();
    let e = until(&mut client_events, |e| matches!(e, RtcEvent::Message(..))).await;
    assert_eq!(e, RtcEvent::Message(Channel::Events, b"back".to_vec()));
    client.close().await;
    server.close().await;
}

/// The address a NAT would show the STUN server (TEST-NET-3, never a real host).
const MAPPED: std::net::Ipv4Addr = std::net::Ipv4Addr::new(203, 0, 113, 7);
const MAGIC_COOKIE: u32 = 0x2112_A442;

/// A minimal STUN server (RFC 8489 Binding only), written from the RFC rather than with
/// the crate's own STUN code: it answers each Binding request with an XOR-MAPPED-ADDRESS
/// of [`MAPPED`] and the sender's port, as a server behind a NAT would see the client.
/// Returns its address and a counter of the requests it answered.
async fn stun_server() -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("a UDP port");
    let addr = socket.local_addr().expect("its address");
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&answered);
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let request = &buf[..n];
            let is_binding = n >= 20 && request[0..2] == [0x00, 0x01];
            if !is_binding || u32::from_be_bytes([request[4], request[5], request[6], request[7]]) != MAGIC_COOKIE {
                continue;
            }
            let mut response = Vec::with_capacity(32);
            response.extend_from_slice(&[0x01, 0x01, 0x00, 12]); // Binding success, 12 bytes of attributes
            response.extend_from_slice(&request[4..20]); // cookie and transaction id
            response.extend_from_slice(&[0x00, 0x20, 0x00, 8, 0x00, 0x01]); // XOR-MAPPED-ADDRESS, IPv4
            response.extend_from_slice(&(from.port() ^ (MAGIC_COOKIE >> 16) as u16).to_be_bytes());
            response.extend_from_slice(&(u32::from(MAPPED) ^ MAGIC_COOKIE).to_be_bytes());
            if socket.send_to(&response, from).await.is_ok() {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    (addr, answered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stun_server_gives_server_reflexive_candidates_and_bad_ice_urls_are_refused() {
    let (stun, answered) = stun_server().await;
    let udp = vec!["127.0.0.1:0".to_owned()];
    let ice = vec![IceServer { urls: vec![format!("stun:{stun}")], ..IceServer::default() }];
    assert_eq!(ice[0].validate(), Ok(()));
    let (_pending, offer) = RtcPeer::offer(&udp, &ice).await.unwrap();
    assert!(answered.load(std::sync::atomic::Ordering::Relaxed) >= 1, "the peer asked the STUN server");
    let srflx: Vec<&str> = offer.lines().filter(|l| l.contains("typ srflx")).collect();
    assert!(!srflx.is_empty(), "no server-reflexive candidate in the offer:\n{offer}");
    assert!(srflx.iter().any(|l| l.contains(&MAPPED.to_string())), "{srflx:?}");
    assert!(offer.lines().any(|l| l.contains("typ host")), "host candidates stay");
    // Without STUN, only host candidates.
    let (_pending, plain) = RtcPeer::offer(&udp, &[]).await.unwrap();
    assert!(!plain.contains("typ srflx"));

    let bad = |urls: &[&str], user: &str| {
        IceServer {
            urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            username: user.into(),
            credential: user.into(),
        }
        .validate()
    };
    assert!(bad(&["http://stun.example.org"], "").is_err(), "not a STUN/TURN scheme");
    assert!(bad(&["turn:turn.example.org:3478"], "").is_err(), "TURN without credentials");
    assert!(bad(&["stun:"], "").is_err(), "no host");
    assert!(bad(&[], "").is_err(), "no URL");
    assert_eq!(bad(&["turn:turn.example.org:3478?transport=udp"], "u"), Ok(()));
}
