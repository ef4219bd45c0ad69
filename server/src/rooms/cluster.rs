//! Rooms across server nodes over NATS (`NEXUS_NATS_URL`). Every node hosting a room
//! publishes its own members' states each tick and its members' events and voice as
//! they come; every other node hosting the room shows them to its members. A node that
//! falls silent for [`super::room::NODE_TIMEOUT`] is taken for dead and its members
//! leave the room everywhere else; its clients reconnect to another node and join the
//! room there. Joining a room this node does not host asks the others
//! ([`Cluster::lookup`]) and hosts a replica. The wire types are
//! `nexus_net::cluster`'s.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use nexus_net::cluster::{
    NodeBatch, NodeOrder, NodeRelay, RoomAnnouncement, lookup_subject, order_subject, relay_subject, state_subject,
};
use nexus_net::control::RoomId;

use uuid::Uuid;

use super::hub::{HubClock, RoomHub};
use super::room::Room;

/// How long a room lookup waits for another node's answer.
const LOOKUP_TIMEOUT: Duration = Duration::from_millis(800);

/// This node's connection to the cluster. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cluster {
    client: async_nats::Client,
    node: Arc<str>,
}

impl Cluster {
    /// Connect to NATS at `url` as node `node`.
    pub async fn connect(url: &str, node: &str) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("nexus-server {node}"))
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("NATS at {url}: {e}"))?;
        Ok(Self { client, node: node.into() })
    }

    /// This node's name.
    #[must_use]
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Publish `room`'s local members and queued relays.
    pub async fn publish_room(&self, room: &Room, now_us: u64) {
        let batch = room.local_batch(&self.node, now_us);
        if let Err(e) = self.client.publish(state_subject(&room.id.0), batch.encode().into()).await {
            tracing::warn!(error = %e, "publishing room state to NATS");
        }
        for relay in room.take_outbox(&self.node) {
            let _ = self.client.publish(relay_subject(&room.id.0), relay.encode().into()).await;
        }
        for order in room.take_orders(&self.node) {
            if let Err(e) = self.client.publish(order_subject(&room.id.0), order.encode().into()).await {
                tracing::warn!(error = %e, action = ?order.action, "publishing a moderation order to NATS");
            }
        }
    }

    /// Apply the other nodes' states, relays and moderation orders of `room` until it
    /// closes here.
    pub async fn follow(self, room: Arc<Room>, clock: HubClock) {
        let subscribe = |subject: String| {
            let client = self.client.clone();
            async move { client.subscribe(subject).await }
        };
        let (Ok(mut states), Ok(mut relays), Ok(mut orders)) = (
            subscribe(state_subject(&room.id.0)).await,
            subscribe(relay_subject(&room.id.0)).await,
            subscribe(order_subject(&room.id.0)).await,
        ) else {
            tracing::warn!(room = %room.id.0, "cannot subscribe to the room's NATS subjects");
            return;
        };
        loop {
            tokio::select! {
                Some(msg) = states.next() => match NodeBatch::decode(&msg.payload) {
                    Ok(batch) if batch.node != *self.node => room.apply_batch(batch, clock.now_us()),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "bad room state from NATS"),
                },
                Some(msg) = relays.next() => match NodeRelay::decode(&msg.payload) {
                    Ok(relay) if relay.node != *self.node => room.apply_relay(&relay),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "bad relay from NATS"),
                },
                Some(msg) = orders.next() => match NodeOrder::decode(&msg.payload) {
                    Ok(order) if order.node != *self.node => room.apply_order(&order, &self.node),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "bad moderation order from NATS"),
                },
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            if room.is_closed() {
                break;
            }
        }
    }

    /// Answer other nodes' lookups for rooms this node hosts, until the connection ends.
    pub async fn serve_lookups(self, hub: RoomHub) {
        let Ok(mut requests) = self.client.subscribe(lookup_subject("*")).await else {
            tracing::warn!("cannot subscribe to room lookups");
            return;
        };
        while let Some(msg) = requests.next().await {
            let Some(id) = msg.subject.as_str().rsplit('.').next() else { continue };
            let (Some(room), Some(reply)) = (hub.get(&RoomId(id.to_owned())), msg.reply) else { continue };
            if room.is_closed() {
                continue;
            }
            let (_, capacity) = room.occupancy();
            let announcement = RoomAnnouncement {
                name: room.name.clone(),
                capacity,
                owner: room.owner.to_string(),
                banned: room.banned().iter().map(Uuid::to_string).collect(),
            };
            if let Ok(json) = serde_json::to_vec(&announcement) {
                let _ = self.client.publish(reply, json.into()).await;
            }
        }
    }

    /// Ask the other nodes about room `id`.
    pub async fn lookup(&self, id: &RoomId) -> Option<RoomAnnouncement> {
        let request = self.client.request(lookup_subject(&id.0), bytes::Bytes::new());
        let reply = tokio::time::timeout(LOOKUP_TIMEOUT, request).await.ok()?.ok()?;
        serde_json::from_slice(&reply.payload).ok()
    }
}
