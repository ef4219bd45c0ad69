//! Two real WebRTC peers (webrtc-rs) on loopback: the offer/answer exchange the client
//! and server do over the WebSocket, both data channels opening, and bytes crossing each
//! way on each.
#![cfg(feature = "transport")]

use std::time::Duration;

use nexus_net::transport::rtc::{Channel, RtcEvent, RtcPeer};
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
    let (pending, offer) = RtcPeer::offer(&udp).await.unwrap();
    assert!(offer.contains("m=application"), "the offer negotiates SCTP data channels");
    let (server, mut server_events, answer) = RtcPeer::answer(&offer, &udp).await.unwrap();
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
