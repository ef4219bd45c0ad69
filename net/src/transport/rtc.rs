//! The WebRTC side of the real-time plane, over the `webrtc` crate (webrtc-rs): one peer
//! connection per client, two data channels — [`Channel::Realtime`] unordered with no
//! retransmits (poses, snapshots, clock pings: a late pose is worse than a lost one) and
//! [`Channel::Events`] reliable and ordered. The client offers, the server answers;
//! signalling is non-trickle (each side waits for ICE gathering, then sends one SDP over
//! the authenticated WebSocket).
//!
//! Candidates: the host addresses a peer binds, plus server-reflexive ones from the STUN
//! servers in [`IceServer`]s (the server names them in its `welcome`, so clients behind
//! NAT use the same ones; TURN URLs are passed to the crate as they are).

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::mpsc;

pub use crate::control::IceServer;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceGatheringState,
    RTCIceServer, RTCPeerConnectionState, RTCSessionDescription,
};

/// Label of the unreliable channel.
pub const REALTIME_LABEL: &str = "nexus-rt";
/// Label of the reliable channel.
pub const EVENTS_LABEL: &str = "nexus-events";
/// How long ICE gathering may take before the SDP is sent as it is.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);

/// Which data channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Unordered, no retransmits.
    Realtime,
    /// Ordered and reliable.
    Events,
}

impl Channel {
    fn from_label(label: &str) -> Option<Self> {
        match label {
            REALTIME_LABEL => Some(Self::Realtime),
            EVENTS_LABEL => Some(Self::Events),
            _ => None,
        }
    }
}

/// What a peer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcEvent {
    /// A channel opened; sends on it now reach the other side.
    Open(Channel),
    /// A binary message arrived.
    Message(Channel, Vec<u8>),
    /// The connection failed or closed; fall back to the WebSocket.
    Closed,
}

/// Why WebRTC could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RtcError {
    /// The `webrtc` crate refused (bad SDP, no usable address, …).
    #[error("webrtc: {0}")]
    Webrtc(String),
    /// The channel is not open (yet, or any more).
    #[error("data channel not open")]
    NotOpen,
}

fn err(e: impl std::fmt::Display) -> RtcError {
    RtcError::Webrtc(e.to_string())
}

struct Handler {
    gathered: mpsc::Sender<()>,
    events: mpsc::Sender<RtcEvent>,
    channels: ChannelList,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if matches!(state, RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed) {
            let _ = self.events.send(RtcEvent::Closed).await;
        }
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let Ok(label) = dc.label().await else { return };
        let Some(channel) = Channel::from_label(&label) else { return };
        self.channels.lock().await.push((channel, Arc::clone(&dc)));
        tokio::spawn(pump(channel, dc, self.events.clone()));
    }
}

/// Forward one channel's events until it closes.
async fn pump(channel: Channel, dc: Arc<dyn DataChannel>, events: mpsc::Sender<RtcEvent>) {
    while let Some(event) = dc.poll().await {
        let forwarded = match event {
            DataChannelEvent::OnOpen => events.send(RtcEvent::Open(channel)).await,
            DataChannelEvent::OnMessage(m) if !m.is_string => {
                events.send(RtcEvent::Message(channel, m.data.to_vec())).await
            }
            DataChannelEvent::OnClose => break,
            _ => Ok(()),
        };
        if forwarded.is_err() {
            return;
        }
    }
    let _ = events.send(RtcEvent::Closed).await;
}

/// One end of a WebRTC connection carrying the real-time plane.
pub struct RtcPeer {
    pc: Box<dyn PeerConnectionDyn>,
    channels: ChannelList,
}

impl std::fmt::Debug for RtcPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtcPeer").finish_non_exhaustive()
    }
}

/// Object-safe view of the `webrtc` crate's connection (its builder returns an opaque
/// type).
#[async_trait::async_trait]
trait PeerConnectionDyn: Send + Sync {
    async fn close(&self);
    async fn set_remote(&self, desc: RTCSessionDescription) -> Result<(), RtcError>;
}

#[async_trait::async_trait]
impl<T: PeerConnection> PeerConnectionDyn for T {
    async fn close(&self) {
        let _ = PeerConnection::close(self).await;
    }

    async fn set_remote(&self, desc: RTCSessionDescription) -> Result<(), RtcError> {
        self.set_remote_description(desc).await.map_err(err)
    }
}

type ChannelList = Arc<tokio::sync::Mutex<Vec<(Channel, Arc<dyn DataChannel>)>>>;

struct Built<P> {
    pc: P,
    gathered: mpsc::Receiver<()>,
    events_tx: mpsc::Sender<RtcEvent>,
    events: mpsc::Receiver<RtcEvent>,
    channels: ChannelList,
}

async fn build(udp: &[String], ice: &[IceServer]) -> Result<Built<impl PeerConnection>, RtcError> {
    let (gathered_tx, gathered) = mpsc::channel(1);
    let (events_tx, events) = mpsc::channel(1024);
    let channels: ChannelList = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let handler =
        Arc::new(Handler { gathered: gathered_tx, events: events_tx.clone(), channels: Arc::clone(&channels) });
    let ice_servers = ice
        .iter()
        .map(|s| RTCIceServer { urls: s.urls.clone(), username: s.username.clone(), credential: s.credential.clone() })
        .collect();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::default().with_ice_servers(ice_servers).build())
        .with_handler(handler)
        .with_udp_addrs(udp.to_vec())
        .build()
        .await
        .map_err(err)?;
    Ok(Built { pc, gathered, events_tx, events, channels })
}

async fn gather(pc: &impl PeerConnection, mut gathered: mpsc::Receiver<()>) -> Result<String, RtcError> {
    let _ = tokio::time::timeout(GATHER_TIMEOUT, gathered.recv()).await;
    pc.local_description().await.map(|d| d.sdp).ok_or_else(|| RtcError::Webrtc("no local description".into()))
}

/// A client's peer between its offer and the server's answer.
pub struct PendingOffer {
    pc: Box<dyn PeerConnectionDyn>,
    channels: ChannelList,
    events: mpsc::Receiver<RtcEvent>,
}

impl std::fmt::Debug for PendingOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingOffer").finish_non_exhaustive()
    }
}

impl PendingOffer {
    /// Apply the server's answer; the channels open shortly after (watch the events for
    /// [`RtcEvent::Open`]).
    pub async fn accept(self, answer_sdp: &str) -> Result<(RtcPeer, mpsc::Receiver<RtcEvent>), RtcError> {
        let answer = RTCSessionDescription::answer(answer_sdp.to_owned()).map_err(err)?;
        self.pc.set_remote(answer).await?;
        Ok((RtcPeer { pc: self.pc, channels: self.channels }, self.events))
    }
}

impl RtcPeer {
    /// The client side: create both channels and an offer. Returns the pending peer and
    /// the offer's SDP; pass the server's answer to [`PendingOffer::accept`]. `udp` lists
    /// local addresses to bind (e.g. `0.0.0.0:0`); `ice`, the STUN/TURN servers.
    pub async fn offer(udp: &[String], ice: &[IceServer]) -> Result<(PendingOffer, String), RtcError> {
        let built = build(udp, ice).await?;
        let unreliable = RTCDataChannelInit { ordered: false, max_retransmits: Some(0), ..Default::default() };
        let rt = built.pc.create_data_channel(REALTIME_LABEL, Some(unreliable)).await.map_err(err)?;
        let ev = built.pc.create_data_channel(EVENTS_LABEL, None).await.map_err(err)?;
        {
            let mut list = built.channels.lock().await;
            list.push((Channel::Realtime, Arc::clone(&rt)));
            list.push((Channel::Events, Arc::clone(&ev)));
        }
        tokio::spawn(pump(Channel::Realtime, rt, built.events_tx.clone()));
        tokio::spawn(pump(Channel::Events, ev, built.events_tx));
        let offer = built.pc.create_offer(None).await.map_err(err)?;
        built.pc.set_local_description(offer).await.map_err(err)?;
        let sdp = gather(&built.pc, built.gathered).await?;
        Ok((PendingOffer { pc: Box::new(built.pc), channels: built.channels, events: built.events }, sdp))
    }

    /// The server side: answer a client's offer. Returns the peer, its event stream and
    /// the answer's SDP.
    pub async fn answer(
        offer_sdp: &str,
        udp: &[String],
        ice: &[IceServer],
    ) -> Result<(Self, mpsc::Receiver<RtcEvent>, String), RtcError> {
        let built = build(udp, ice).await?;
        drop(built.events_tx);
        let offer = RTCSessionDescription::offer(offer_sdp.to_owned()).map_err(err)?;
        built.pc.set_remote_description(offer).await.map_err(err)?;
        let answer = built.pc.create_answer(None).await.map_err(err)?;
        built.pc.set_local_description(answer).await.map_err(err)?;
        let sdp = gather(&built.pc, built.gathered).await?;
        Ok((Self { pc: Box::new(built.pc), channels: built.channels }, built.events, sdp))
    }

    /// Send `bytes` on `channel`.
    pub async fn send(&self, channel: Channel, bytes: &[u8]) -> Result<(), RtcError> {
        let dc = {
            let list = self.channels.lock().await;
            list.iter().find(|(c, _)| *c == channel).map(|(_, dc)| Arc::clone(dc))
        };
        let dc = dc.ok_or(RtcError::NotOpen)?;
        dc.send(BytesMut::from(bytes)).await.map_err(|_| RtcError::NotOpen)
    }

    /// Close the connection.
    pub async fn close(&self) {
        self.pc.close().await;
    }
}

/// The next event of an optional peer's stream; never resolves while there is no peer (so
/// it can sit in a `select!` beside the WebSocket before WebRTC is set up).
pub async fn next_event(events: &mut Option<mpsc::Receiver<RtcEvent>>) -> Option<RtcEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
