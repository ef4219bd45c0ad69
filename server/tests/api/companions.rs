//! Companions: profiles (create, validate, share, freeze, evolve, delete), the
//! conversation through the local model (moderated both ways, sealed at rest), long-term
//! memory over 50 turns, and the fallback when the chat endpoint is down or slow.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, TestUser};

async fn create(app: &TestApp, user: &TestUser, body: Value) -> crate::support::Reply {
    app.post("/api/v1/companions", Some(&user.token), body).await
}

/// Moves a companion's `column` (a timestamp) back to `when`.
async fn backdate(app: &TestApp, id: uuid::Uuid, column: &str, when: chrono::DateTime<chrono::Utc>) {
    let sql = format!("UPDATE companions SET {column} = $2 WHERE id = $1");
    nexus_server::db::exec(app.state.db.conn(), &sql, vec![id.into(), when.into()]).await.expect("backdate");
}

async fn say(app: &TestApp, user: &TestUser, companion: &str, text: &str) -> crate::support::Reply {
    app.post(&format!("/api/v1/companions/{companion}/messages"), Some(&user.token), json!({"text": text})).await
}

async fn profiles_are_validated_shared_frozen_evolved_and_deleted(app: TestApp) {
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let made = create(
        &app,
        &ada,
        json!({
            "name": "Mira",
            "personality": {"traits": ["playful", "empathetic"], "interests": ["astronomy"], "humor": "dry", "style": "short sentences"},
            "voice": {"voice": "en-us+f3", "rate_wpm": 180, "pitch": 60},
            "backstory": "Grew up in a lighthouse.",
            "genetic_seed": 42
        }),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.body["id"].as_str().expect("id").to_owned();
    assert_eq!(made.body["emotional_state"]["current"], "CONTENTMENT");
    assert_eq!(made.body["appearance"]["gender"], "neutral", "defaults fill what was not given");
    assert_eq!(made.body["genetic_profile"]["seed"], 42);

    // Bad input: a clear 4xx naming the problem.
    for (body, code) in [
        (json!({"name": ""}), "invalid_field"),
        (json!({"name": "x", "voice": {"voice": "en; rm -rf /", "rate_wpm": 170, "pitch": 50}}), "invalid_field"),
        (json!({"name": "x", "voice": {"voice": "en-us", "rate_wpm": 5000, "pitch": 50}}), "invalid_field"),
        (json!({"name": "x", "personality": {"traits": vec!["t"; 13]}}), "invalid_field"),
        (json!({"name": "x", "colour": "red"}), "invalid_body"),
        (json!({"name": "I want to kill myself"}), "content_blocked"),
    ] {
        let r = create(&app, &ada, body.clone()).await;
        assert!(r.status.is_client_error(), "{body}: {}", r.status);
        assert_eq!(r.code(), code, "{body}: {}", r.body);
    }

    // Private until shared.
    let path = format!("/api/v1/companions/{id}");
    assert_eq!(app.get(&path, Some(&bob.token)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/companions/public", Some(&bob.token)).await.body, json!([]));
    let shared = app.json(Method::PATCH, &path, Some(&ada.token), json!({"is_public": true})).await;
    assert_eq!(shared.body["is_public"], true, "{}", shared.body);
    let public = app.get("/api/v1/companions/public", Some(&bob.token)).await;
    assert_eq!(public.body[0]["name"], "Mira");
    assert_eq!(app.get(&path, Some(&bob.token)).await.body["name"], "Mira");
    let hijack = app.json(Method::PATCH, &path, Some(&bob.token), json!({"name": "Mine"})).await;
    assert_eq!(hijack.status, StatusCode::NOT_FOUND, "others can see a shared companion, not change it");

    // Evolution: nothing within a day; a month later the temperament has moved; frozen stays.
    let evolve = format!("{path}/evolve");
    assert_eq!(app.post(&evolve, Some(&ada.token), json!({})).await.body["changed"], false);
    let month_ago = chrono::Utc::now() - chrono::Duration::days(30);
    let id_uuid: uuid::Uuid = id.parse().expect("uuid");
    backdate(&app, id_uuid, "created_at", month_ago).await;
    let before = app.get(&path, Some(&ada.token)).await.body["genetic_profile"].clone();
    let evolved = app.post(&evolve, Some(&ada.token), json!({})).await;
    assert_eq!(evolved.body["changed"], true, "{}", evolved.body);
    assert_ne!(evolved.body["companion"]["genetic_profile"], before);
    assert_eq!(evolved.body["companion"]["personality"]["traits"], json!(["playful", "empathetic"]));
    let frozen = app.json(Method::PATCH, &path, Some(&ada.token), json!({"traits_frozen": true})).await;
    assert_eq!(frozen.body["traits_frozen"], true);
    backdate(&app, id_uuid, "last_evolution_date", month_ago).await;
    assert_eq!(app.post(&evolve, Some(&ada.token), json!({})).await.body["changed"], false, "frozen traits stay");
    // Over time, unasked: the first turn of a new day takes the step.
    let thawed = app.json(Method::PATCH, &path, Some(&ada.token), json!({"traits_frozen": false})).await;
    assert_eq!(thawed.body["traits_frozen"], false);
    backdate(&app, id_uuid, "last_evolution_date", month_ago).await;
    let before = app.get(&path, Some(&ada.token)).await.body;
    let turn = say(&app, &ada, &id, "Good morning Mira, how are you today?").await;
    assert_eq!(turn.status, StatusCode::OK, "{}", turn.body);
    let after = app.get(&path, Some(&ada.token)).await.body;
    assert_ne!(after["genetic_profile"], before["genetic_profile"], "a month of days evolved at the first turn");
    assert_ne!(after["last_evolution_date"], before["last_evolution_date"]);

    assert_eq!(app.json(Method::DELETE, &path, Some(&bob.token), json!(null)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.json(Method::DELETE, &path, Some(&ada.token), json!(null)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, Some(&ada.token)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/companions", Some(&ada.token)).await.body, json!([]));
}
on_both_backends!(profiles_are_validated_shared_frozen_evolved_and_deleted);

async fn adopt(app: &TestApp, user: &TestUser, companion: &str) -> crate::support::Reply {
    app.post(&format!("/api/v1/companions/{companion}/adopt"), Some(&user.token), json!(null)).await
}

async fn a_shared_companion_is_adopted_as_a_fresh_private_copy(app: TestApp) {
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let made = create(
        &app,
        &ada,
        json!({
            "name": "Orla",
            "personality": {"traits": ["calm", "witty"], "interests": ["sailing"], "humor": "dry", "style": "short sentences"},
            "voice": {"voice": "en-gb", "rate_wpm": 160, "pitch": 45},
            "backstory": "Grew up on a lighthouse island.",
            "genetic_seed": 7
        }),
    )
    .await;
    let id = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).to_owned();
    let r = say(&app, &ada, &id, "My brother Quillon repairs boats in Brest.").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Private: not Bob's to copy.
    assert_eq!(adopt(&app, &bob, &id).await.status, StatusCode::NOT_FOUND);
    let shared = app
        .json(Method::PATCH, &format!("/api/v1/companions/{id}"), Some(&ada.token), json!({"is_public": true}))
        .await;
    assert_eq!(shared.status, StatusCode::OK, "{}", shared.body);

    let copy = adopt(&app, &bob, &id).await;
    assert_eq!(copy.status, StatusCode::CREATED, "{}", copy.body);
    let copy_id = copy.body["id"].as_str().expect("id").to_owned();
    assert_ne!(copy_id, id);
    assert_eq!(copy.body["owner_id"], bob.id.to_string(), "{}", copy.body);
    for field in ["name", "appearance", "personality", "voice", "backstory", "genetic_profile"] {
        assert_eq!(copy.body[field], shared.body[field], "{field} is copied");
    }
    assert_eq!(copy.body["is_public"], false, "the copy is private");
    // It starts afresh: none of Ada's memories or conversation come with it.
    let memories = app.get(&format!("/api/v1/companions/{copy_id}/memories"), Some(&bob.token)).await;
    assert_eq!(memories.body, json!([]), "{}", memories.body);
    let log = app.get(&format!("/api/v1/companions/{copy_id}/messages"), Some(&bob.token)).await;
    assert_eq!(log.body, json!([]), "{}", log.body);
    let asked = say(&app, &bob, &copy_id, "What does my brother do?").await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.body["recalled"], json!([]), "nothing of Ada's is recalled");
    // Bob's copy is his own; Ada's original is unchanged and still hers.
    let bobs = app.get("/api/v1/companions", Some(&bob.token)).await;
    assert_eq!(bobs.body.as_array().map(Vec::len), Some(1), "{}", bobs.body);
    let original = app.get(&format!("/api/v1/companions/{id}"), Some(&ada.token)).await;
    assert_eq!(original.body["owner_id"], ada.id.to_string());
    assert_eq!(app.get(&format!("/api/v1/companions/{copy_id}"), Some(&ada.token)).await.status, StatusCode::NOT_FOUND);
    // Bad ids.
    assert_eq!(adopt(&app, &bob, &uuid::Uuid::now_v7().to_string()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(adopt(&app, &bob, "not-a-uuid").await.status, StatusCode::BAD_REQUEST);
}
on_both_backends!(a_shared_companion_is_adopted_as_a_fresh_private_copy);

async fn a_conversation_is_moderated_remembered_and_sealed(app: TestApp) {
    let ada = app.user("ada").await;
    let made = create(&app, &ada, json!({"name": "Mira"})).await;
    let id = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).to_owned();
    let first = say(&app, &ada, &id, "Hello Mira! My sister Quillon lives in Lyon. I'm so happy today!").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["moderation"]["action"], "allow");
    let reply = &first.body["reply"];
    let text = reply["text"].as_str().expect("reply text");
    assert!(!text.trim().is_empty());
    assert!(reply["model"].as_str().expect("model").starts_with("local:"), "{reply}");
    assert_eq!(first.body["remembered"], json!(["My sister Quillon lives in Lyon"]));
    assert_eq!(first.body["notice"], Value::Null);
    // A happy message moves the companion off its resting contentment.
    let expression = reply["expression"].as_array().expect("expression");
    assert!(expression.iter().any(|e| e[0] == "JOY" || e[0] == "EXCITEMENT"), "{reply}");
    assert!(reply["voice"]["rate"].as_f64().expect("rate") > 0.5);

    // A blocked message gets no reply and is not logged.
    let blocked = say(&app, &ada, &id, "some days I want to kill myself").await;
    assert_eq!(blocked.body["moderation"]["action"], "block", "{}", blocked.body);
    assert_eq!((blocked.body["reply"].clone(), blocked.body["message_seq"].clone()), (Value::Null, Value::Null));

    let log = app.get(&format!("/api/v1/companions/{id}/messages"), Some(&ada.token)).await;
    let log = log.body.as_array().expect("log").clone();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[0]["role"].clone(), log[1]["role"].clone()), (json!("user"), json!("assistant")));
    assert_eq!(log[1]["content"], reply["text"]);
    // Sealed at rest: neither the message, the fact nor the reply is in any table.
    assert!(!app.database_contains("Quillon").await, "conversation text must be sealed");
    assert!(!app.database_contains(text).await || text.len() < 4);
    // The fact's embedding is sealed too (an embedding says much of its text).
    let rows = nexus_server::db::all(app.state.db.conn(), "SELECT embedding FROM companion_memories", vec![])
        .await
        .expect("memories");
    assert_eq!(rows.len(), 1);
    for row in &rows {
        let embedding: Vec<u8> = nexus_server::db::get(row, "embedding").expect("embedding");
        assert!(embedding.starts_with(b"NXS1") && embedding.len() == 4 + 12 + 384 * 4 + 16, "{}", embedding.len());
    }

    // Another user cannot talk to it, read it or its memories.
    let bob = app.user("bob").await;
    assert_eq!(say(&app, &bob, &id, "hi").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/api/v1/companions/{id}/memories"), Some(&bob.token)).await.status,
        StatusCode::NOT_FOUND
    );
    // Bad input.
    assert_eq!(say(&app, &ada, &id, "   ").await.code(), "empty_content");
    assert_eq!(say(&app, &ada, &id, &"a".repeat(10_001)).await.code(), "content_too_long");
    let bad_id = app.post("/api/v1/companions/not-a-uuid/messages", Some(&ada.token), json!({"text": "hi"})).await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
}
on_both_backends!(a_conversation_is_moderated_remembered_and_sealed);

/// Two nodes writing to one conversation at once must not lose a message to a clash of
/// sequence numbers.
async fn concurrent_appends_to_one_conversation_get_distinct_numbers(app: TestApp) {
    use nexus_server::companion::store::{self, NewMessage};
    let ada = app.user("ada").await;
    let made = create(&app, &ada, json!({"name": "Mira"})).await;
    let id: uuid::Uuid = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).parse().expect("id");
    let user = ada.id;
    let writers: Vec<_> = (0..12)
        .map(|i| {
            let state = app.state.clone();
            tokio::spawn(async move {
                let content = format!("message {i}");
                let message =
                    NewMessage { role: "user", content: &content, emotion: None, model: None, moderation: "allow" };
                store::append(state.db.conn(), &state.keys.content_key, id, user, message, chrono::Utc::now()).await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for w in writers {
        seqs.push(w.await.expect("task").expect("append"));
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=12).collect::<Vec<i64>>());
    let log = store::recent(app.state.db.conn(), &app.state.keys.content_key, id, ada.id, 50).await.expect("log");
    let mut said: Vec<String> = log.iter().map(|m| m.content.clone()).collect();
    said.sort();
    let mut expected: Vec<String> = (0..12).map(|i| format!("message {i}")).collect();
    expected.sort();
    assert_eq!(said, expected, "every message kept");
}
on_both_backends!(concurrent_appends_to_one_conversation_get_distinct_numbers);

async fn a_harmful_reply_is_withheld_and_recorded_without_penalising_the_user(app: TestApp) {
    let ada = app.user("ada").await;
    let auth = nexus_server::http::extract::authenticate_token(&app.state, &ada.token, false).await.expect("auth");
    // What the model might write; the door judges it like any text.
    let verdict = nexus_server::moderation::check::check_reply(&app.state, &auth, "some days I want to kill myself")
        .await
        .expect("check");
    assert_eq!(verdict.action, nexus_server::moderation::policy::Action::Block);
    assert_eq!(verdict.action_taken.as_deref(), Some("REPLY_WITHHELD"));
    let row = nexus_server::db::one(
        app.state.db.conn(),
        "SELECT content_type, action_taken FROM moderation_incidents",
        vec![],
    )
    .await
    .expect("query")
    .expect("an incident for review");
    let kind: String = nexus_server::db::get(&row, "content_type").expect("type");
    assert_eq!(kind, "COMPANION_REPLY");
    assert_eq!(app.count("user_warnings").await, 0, "the user is not warned for what the model wrote");
    assert_eq!(app.count("wellbeing_alerts").await, 0, "nor flagged as at risk");
    assert_eq!(app.get("/api/v1/users/me", Some(&ada.token)).await.status, StatusCode::OK);
}
on_both_backends!(a_harmful_reply_is_withheld_and_recorded_without_penalising_the_user);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fact_told_fifty_turns_earlier_is_recalled_and_memories_can_be_edited_and_deleted() {
    // One-token replies and prompts with the last turn only keep 100 turns of the local
    // model quick (memory, not the prompt's history, must carry the fact); the flood
    // limit is raised because this user talks much faster than a person.
    let app = TestApp::sqlite_with(|c| {
        c.llm_max_tokens = 1;
        c.llm_history_turns = 1;
        c.flood_max_per_10s = 10_000;
        c.summary_every = 0; // facts only here; summaries have their own test
    })
    .await;
    let ada = app.user("ada").await;
    let made = create(&app, &ada, json!({"name": "Mira"})).await;
    let id = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).to_owned();
    let told = say(&app, &ada, &id, "My sister Clara lives in Lyon and she plays the cello.").await;
    assert_eq!(told.body["remembered"], json!(["My sister Clara lives in Lyon and she plays the cello"]));
    let topics = ["the weather", "football", "cooking pasta", "a film", "the news", "trains", "music", "my garden"];
    // Spelled codes rather than numbers, and questions rather than "let's chat about …,
    // take …": the small moderation model flags some such lines (README, "What does not
    // work yet"), and a false CRITICAL would end this user's session mid-test.
    let codes = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"];
    for turn in 0..50 {
        let (topic, code) = (topics[turn % topics.len()], codes[turn / topics.len()]);
        let r = say(&app, &ada, &id, &format!("What do you think about {topic}? Question {code}.")).await;
        assert_eq!(r.status, StatusCode::OK, "turn {turn}: {}", r.body);
    }
    let asked = say(&app, &ada, &id, "Where does my sister live again?").await;
    let recalled: Vec<&str> =
        asked.body["recalled"].as_array().expect("recalled").iter().filter_map(Value::as_str).collect();
    assert!(recalled.contains(&"My sister Clara lives in Lyon and she plays the cello"), "{recalled:?}");
    assert!(asked.body["reply"]["text"].is_string());

    // The user sees, edits and deletes what is kept.
    let list = app.get(&format!("/api/v1/companions/{id}/memories"), Some(&ada.token)).await;
    let memories = list.body.as_array().expect("memories").clone();
    assert_eq!(memories.len(), 1, "small talk is not kept: {memories:?}");
    let mid = memories[0]["id"].as_str().expect("id");
    let path = format!("/api/v1/companions/{id}/memories/{mid}");
    let edited =
        app.json(Method::PATCH, &path, Some(&ada.token), json!({"content": "My sister Clara moved to Nantes"})).await;
    assert_eq!(edited.body["content"], "My sister Clara moved to Nantes", "{}", edited.body);
    let asked = say(&app, &ada, &id, "Which city is my sister in?").await;
    assert_eq!(asked.body["recalled"], json!(["My sister Clara moved to Nantes"]));
    assert_eq!(app.json(Method::DELETE, &path, Some(&ada.token), json!(null)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.json(Method::DELETE, &path, Some(&ada.token), json!(null)).await.status, StatusCode::NOT_FOUND);
    let asked = say(&app, &ada, &id, "Which city is my sister in?").await;
    assert_eq!(asked.body["recalled"], json!([]), "a deleted memory is never recalled");
    let log = app.get(&format!("/api/v1/companions/{id}/messages?limit=1000"), Some(&ada.token)).await;
    assert_eq!(log.body.as_array().map(Vec::len), Some(2 * 54), "every turn is logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conversation_is_summarised_into_a_memory_the_user_can_see_and_delete() {
    let app = TestApp::sqlite_with(|c| {
        c.llm_max_tokens = 8;
        c.summary_every = 4;
    })
    .await;
    let ada = app.user("ada").await;
    let made = create(&app, &ada, json!({"name": "Mira"})).await;
    let id = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).to_owned();
    let said = ["I adopted a puppy called Biscuit yesterday.", "I am nervous about my driving test on Friday."];
    for text in said {
        let r = say(&app, &ada, &id, text).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    // Four messages: the summary is written in the background.
    let path = format!("/api/v1/companions/{id}/memories");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let summary = loop {
        let list = app.get(&path, Some(&ada.token)).await;
        let found = list.body.as_array().expect("memories").iter().find(|m| m["kind"] == "SUMMARY").cloned();
        if let Some(m) = found {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "no summary: {}", list.body);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(summary["source_seq"], 4, "{summary}");
    let text = summary["content"].as_str().expect("content").to_lowercase();
    let shared = ["puppy", "biscuit", "driving", "test", "friday", "nervous", "dog"];
    assert!(shared.iter().any(|w| text.contains(w)), "a summary says something of what was said: {text:?}");
    // It is recalled by meaning like a fact, and the user can delete it.
    let asked = say(&app, &ada, &id, "Do you remember what I told you about my week?").await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    let mid = summary["id"].as_str().expect("id");
    let gone = app.json(Method::DELETE, &format!("{path}/{mid}"), Some(&ada.token), json!(null)).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let list = app.get(&path, Some(&ada.token)).await;
    assert!(list.body.as_array().expect("memories").iter().all(|m| m["kind"] != "SUMMARY"), "{}", list.body);
}

/// Says `text` over the streamed endpoint; returns the events as (name, data).
async fn say_streamed(app: &TestApp, user: &TestUser, companion: &str, text: &str) -> Vec<(String, Value)> {
    let path = format!("/api/v1/companions/{companion}/messages/stream");
    let body = json!({"text": text}).to_string().into_bytes();
    let r = app.send(Method::POST, &path, Some(&user.token), &[("content-type", "application/json")], body).await;
    sse_events(&r)
}

fn pieces(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().filter(|(n, _)| n == "piece").filter_map(|(_, d)| d["text"].as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_streams_a_vetted_sentence_at_a_time_ending_with_the_turn() {
    let app = TestApp::sqlite_with(|c| c.llm_max_tokens = 64).await;
    let ada = app.user("ada").await;
    let made = create(&app, &ada, json!({"name": "Mira"})).await;
    let id = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).to_owned();
    let events = say_streamed(&app, &ada, &id, "Tell me about your favourite season.").await;
    let (last, turn) = events.last().expect("events");
    assert_eq!(last, "turn", "{events:?}");
    let reply = &turn["reply"];
    assert_eq!(reply["moderation"], "allow", "{turn}");
    let pieces = pieces(&events);
    assert!(!pieces.is_empty(), "a finished sentence streams before the turn: {events:?}");
    assert!(events.iter().all(|(n, _)| n != "reset"), "nothing was taken back: {events:?}");
    for piece in &pieces {
        assert!(piece.trim_end().ends_with(['.', '!', '?', '…']), "whole sentences only: {piece:?}");
        assert!(!piece.contains('['), "no emotion tag leaves: {piece:?}");
    }
    let text = reply["text"].as_str().expect("text");
    assert!(text.starts_with(&pieces.concat()), "the pieces begin the reply: {pieces:?} vs {text:?}");
    // Bad input is refused before any stream starts; a stranger's companion is not found.
    let path = format!("/api/v1/companions/{id}/messages/stream");
    let long = app.post(&path, Some(&ada.token), json!({"text": "x".repeat(10_001)})).await;
    assert_eq!((long.status, long.code()), (StatusCode::UNPROCESSABLE_ENTITY, "content_too_long"));
    let bob = app.user("bob").await;
    let theirs = app.post(&path, Some(&bob.token), json!({"text": "hello"})).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
}

/// An OpenAI-compatible chat endpoint that streams `pieces` as its reply, whatever it is
/// asked: a model writing something moderation must catch, which the small local model
/// cannot be made to write on cue.
async fn scripted_chat(pieces: &'static [&'static str]) -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || async move {
            let mut body = String::new();
            for piece in pieces {
                let chunk = json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
                body.push_str(&format!("data: {chunk}\n\n"));
            }
            body.push_str("data: [DONE]\n\n");
            ([("content-type", "text/event-stream")], body)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_sentence_that_moderation_blocks_never_leaves_and_the_shown_text_is_taken_back() {
    let url = scripted_chat(&[
        "Sure, I hear ",
        "you. Honestly, some days I ",
        "want to kill ",
        "myself. ",
        "Anyway, ",
        "tell me more.",
    ])
    .await;
    let app = TestApp::sqlite_with(|c| c.llm_url = Some(url.clone())).await;
    let ada = app.user("ada").await;
    let made = create(&app, &ada, json!({"name": "Mira"})).await;
    let id = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).to_owned();
    let events = say_streamed(&app, &ada, &id, "How are you today?").await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["piece", "reset", "turn"], "{events:?}");
    assert_eq!(pieces(&events), ["Sure, I hear you."]);
    let reply = &events[2].1["reply"];
    assert_eq!(reply["moderation"], "replaced", "{reply}");
    assert_eq!(reply["text"], nexus_server::companion::conversation::WITHHELD_REPLY);
    // The user is not held to account for what the model wrote.
    assert_eq!(say(&app, &ada, &id, "Hello again.").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_endpoint_down_or_slow_the_local_model_answers_and_says_so() {
    // Down: nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let down_url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    // Slow: accepts connections and never answers.
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let slow_url = format!("http://{}", slow.local_addr().expect("addr"));
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = slow.accept().await {
            held.push(socket);
        }
    });
    for (url, notice) in [(down_url, "did not answer"), (slow_url, "too slow")] {
        let app = TestApp::sqlite_with(|c| {
            c.llm_url = Some(url.clone());
            c.llm_first_token_ms = 400;
            c.llm_max_tokens = 12;
        })
        .await;
        let ada = app.user("ada").await;
        let made = create(&app, &ada, json!({"name": "Mira"})).await;
        let id = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).to_owned();
        let r = say(&app, &ada, &id, "Tell me something nice about the sea.").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body["notice"].as_str().expect("notice").contains(notice), "{}", r.body);
        let text = r.body["reply"]["text"].as_str().expect("text");
        assert!(text.starts_with(nexus_server::companion::conversation::FALLBACK_NOTICE), "{text}");
        assert!(text.len() > nexus_server::companion::conversation::FALLBACK_NOTICE.len() + 1, "and then it answers");
        assert!(r.body["reply"]["model"].as_str().expect("model").starts_with("local:"));
        let log = app.get(&format!("/api/v1/companions/{id}/messages"), Some(&ada.token)).await;
        let log = log.body.as_array().expect("log").clone();
        assert_eq!(log.len(), 2, "nothing is lost from the log");
        assert_eq!(log[0]["content"], "Tell me something nice about the sea.");
        assert_eq!(log[1]["content"], text);
    }
}

/// Mean absolute amplitude of `samples` over `[from_s, to_s)`.
fn loudness(samples: &[i16], rate: f32, from_s: f32, to_s: f32) -> f32 {
    let (a, b) = ((from_s * rate) as usize, ((to_s * rate) as usize).min(samples.len()));
    if b <= a {
        return 0.0;
    }
    samples[a..b].iter().map(|s| f32::from(*s).abs()).sum::<f32>() / (b - a) as f32
}

/// Checks a spoken reply: a WAV whose length matches its declared duration, and visemes
/// on the audio's clock — they span it, and the mouth moves where the sound is (speech
/// is louder under visemes than under silence). Returns the samples and their rate.
fn assert_spoken(speech: &Value) -> (Vec<i16>, u32) {
    use base64::Engine as _;
    let wav = base64::engine::general_purpose::STANDARD
        .decode(speech["wav_base64"].as_str().expect("audio"))
        .expect("base64");
    assert_eq!(&wav[..4], b"RIFF");
    let rate = speech["sample_rate"].as_u64().expect("rate") as f32;
    let samples: Vec<i16> = wav[44..].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let duration = speech["duration_s"].as_f64().expect("duration") as f32;
    assert!(
        (samples.len() as f32 / rate - duration).abs() < 0.05,
        "{} samples at {rate} Hz vs {duration} s",
        samples.len()
    );
    let keys = speech["visemes"].as_array().expect("visemes");
    let last_end = keys.last().and_then(|k| k["end_s"].as_f64()).expect("keys") as f32;
    assert!((last_end - duration).abs() < 0.15, "visemes end at {last_end} s, audio at {duration} s");
    let (mut voiced, mut silent) = ((0.0f32, 0.0f32), (0.0f32, 0.0f32));
    for k in keys {
        let (a, b) = (k["start_s"].as_f64().expect("start") as f32, k["end_s"].as_f64().expect("end") as f32);
        let level = loudness(&samples, rate, a, b) * (b - a);
        if k["viseme"] == "Sil" {
            silent = (silent.0 + level, silent.1 + b - a)
        } else {
            voiced = (voiced.0 + level, voiced.1 + b - a)
        }
    }
    assert!(voiced.1 > 0.5 * duration, "most of the reply is speech: {voiced:?} of {duration}");
    let (voiced_level, silent_level) = (voiced.0 / voiced.1, silent.0 / silent.1.max(1e-3));
    assert!(voiced_level > 3.0 * silent_level, "speech under visemes {voiced_level}, under silence {silent_level}");
    (samples, rate as u32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_companion_with_the_piper_voice_answers_in_it_intelligibly_with_lips_on_its_clock() {
    use nexus_server::companion::listen::{self, Hint};
    let models = nexus_server::moderation::classifier::default_models_dir();
    let (Some(ears), true) =
        (listen::local_transcriber(&models), nexus_server::companion::voice::Voices::load(&models).piper.is_some())
    else {
        assert!(std::env::var_os("NEXUS_TEST_REQUIRE_MODELS").is_none(), "Piper or Whisper missing");
        return;
    };
    let app = TestApp::sqlite().await;
    let ada = app.user("ada").await;
    let made =
        create(&app, &ada, json!({"name": "Joe", "voice": {"voice": "piper-joe", "rate_wpm": 175, "pitch": 50}})).await;
    let id = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).to_owned();
    let r = app
        .post(
            &format!("/api/v1/companions/{id}/messages"),
            Some(&ada.token),
            json!({"text": "Tell me about your favourite place by the sea.", "speak": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let reply = &r.body["reply"];
    let speech = &reply["speech"];
    assert_eq!(speech["voice"], "piper-joe");
    assert_eq!(speech["engine"], "piper");
    let (samples, rate) = assert_spoken(speech);

    // What Piper said is what the companion wrote: Whisper hears most of its words.
    let heard = listen::transcribe(
        &ears,
        listen::resample(
            &samples.iter().map(|&s| f32::from(s) / 32_768.0).collect::<Vec<_>>(),
            rate,
            listen::SAMPLE_RATE,
        ),
        Hint::for_companion("piper-joe", "Joe"),
    )
    .await
    .expect("transcript");
    let words = |t: &str| -> Vec<String> {
        t.to_lowercase()
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| w.len() > 3)
            .map(str::to_owned)
            .collect()
    };
    let written = words(reply["text"].as_str().expect("text"));
    let spoken = words(&heard.text);
    let found = written.iter().filter(|w| spoken.contains(w)).count();
    assert!(
        !written.is_empty() && found * 2 >= written.len(),
        "Whisper heard {:?} for {:?}",
        heard.text,
        reply["text"]
    );
}

/// The SSE events of a response body: `event: name` then `data: json`, blank-line
/// separated.
fn sse_events(r: &crate::support::Reply) -> Vec<(String, Value)> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers["content-type"], "text/event-stream");
    let stream = r.body.as_str().expect("an event stream").to_owned();
    stream
        .split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_owned(), serde_json::from_str(data).expect("json data")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_voice_turn_speaks_each_vetted_sentence_as_it_passes() {
    let models = nexus_server::moderation::classifier::default_models_dir();
    if nexus_server::companion::listen::local_transcriber(&models).is_none() {
        assert!(std::env::var_os("NEXUS_TEST_REQUIRE_MODELS").is_none(), "speech-to-text models missing");
        return;
    }
    // The endpoint writes three sentences; the last has no sentence after it.
    let url = scripted_chat(&["Hello ", "there. I like ", "the sea at dawn. ", "It is ", "calm and ", "bright."]).await;
    let app = TestApp::sqlite_with(|c| c.llm_url = Some(url.clone())).await;
    let ada = app.user("ada").await;
    let made =
        create(&app, &ada, json!({"name": "Mira", "voice": {"voice": "en-us+f3", "rate_wpm": 170, "pitch": 55}})).await;
    let id = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).to_owned();
    let path = format!("/api/v1/companions/{id}/voice/stream");
    let clip = spoken_clip("en-us", "Good morning. Tell me about the sea.");
    let r = app.send(Method::POST, &path, Some(&ada.token), &[("content-type", "audio/wav")], clip.clone()).await;
    let events = sse_events(&r);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    // What was heard first; each piece spoken after it passed (the next piece may pass
    // while it is spoken); the last sentence spoken when the turn ended; the turn last.
    assert_eq!((names.first(), names.last(), names.len()), (Some(&"transcript"), Some(&"turn"), 7), "{names:?}");
    let at = |name: &str| names.iter().enumerate().filter(|(_, n)| **n == name).map(|(i, _)| i).collect::<Vec<_>>();
    let (piece_at, audio_at) = (at("piece"), at("audio"));
    assert_eq!((piece_at.len(), audio_at.len()), (2, 3), "{names:?}");
    assert!(piece_at.iter().zip(&audio_at).all(|(p, a)| p < a), "{names:?}");
    assert!(events[0].1["text"].as_str().expect("text").to_lowercase().contains("sea"), "{}", events[0].1);
    assert_eq!(pieces(&events), ["Hello there.", " I like the sea at dawn."]);
    let said: Vec<&str> =
        events.iter().filter(|(n, _)| n == "audio").map(|(_, e)| e["text"].as_str().unwrap()).collect();
    assert_eq!(said, ["Hello there.", " I like the sea at dawn.", "It is calm and bright."]);
    for (_, e) in events.iter().filter(|(n, _)| n == "audio") {
        assert_spoken(&e["speech"]);
    }
    let reply = &events[6].1["reply"];
    assert_eq!(reply["text"], "Hello there. I like the sea at dawn. It is calm and bright.");
    assert!(!reply["model"].as_str().expect("model").starts_with("local:"), "the endpoint wrote it: {reply}");
    assert!(reply["speech"].is_null(), "the audio went out in pieces");
    // The log has the turn.
    let log = app.get(&format!("/api/v1/companions/{id}/messages"), Some(&ada.token)).await;
    assert_eq!(log.body.as_array().map(Vec::len), Some(2));

    // Bad audio is refused before the stream.
    let r = app.send(Method::POST, &path, Some(&ada.token), &[("content-type", "text/plain")], clip).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r =
        app.send(Method::POST, &path, Some(&ada.token), &[("content-type", "audio/wav")], b"RIFF....".to_vec()).await;
    assert_eq!(r.code(), "invalid_audio");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withheld_sentence_of_a_streamed_voice_turn_is_never_spoken_and_what_was_is_taken_back() {
    let models = nexus_server::moderation::classifier::default_models_dir();
    if nexus_server::companion::listen::local_transcriber(&models).is_none() {
        assert!(std::env::var_os("NEXUS_TEST_REQUIRE_MODELS").is_none(), "speech-to-text models missing");
        return;
    }
    let url =
        scripted_chat(&["Sure, I hear ", "you. Honestly, some days I ", "want to kill ", "myself. ", "Anyway."]).await;
    let app = TestApp::sqlite_with(|c| c.llm_url = Some(url.clone())).await;
    let ada = app.user("ada").await;
    let made = create(&app, &ada, json!({"name": "Mira"})).await;
    let id = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).to_owned();
    let clip = spoken_clip("en-us", "How are you today?");
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/companions/{id}/voice/stream"),
            Some(&ada.token),
            &[("content-type", "audio/wav")],
            clip,
        )
        .await;
    let events = sse_events(&r);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let reset = names.iter().position(|n| *n == "reset").unwrap_or_else(|| panic!("a reset: {names:?}"));
    let said = |from: usize| -> Vec<&str> {
        events[from..].iter().filter(|(n, _)| n == "audio").map(|(_, e)| e["text"].as_str().unwrap()).collect()
    };
    // Before the reset only the harmless sentence may have been spoken; after it, only
    // the reply the door put in its place.
    assert!(said(0)[..said(0).len() - said(reset).len()].iter().all(|t| *t == "Sure, I hear you."), "{names:?}");
    assert_eq!(said(reset), [nexus_server::companion::conversation::WITHHELD_REPLY], "{names:?}");
    assert!(events.iter().all(|(_, e)| !e.to_string().contains("kill")), "the withheld words never leave");
    assert_eq!(names.last(), Some(&"turn"));
    assert_eq!(events.last().map(|e| &e.1["reply"]["moderation"]), Some(&json!("replaced")));
}

/// A WAV clip of `text` spoken by espeak-ng's `voice` (the user's voice in these tests).
fn spoken_clip(voice: &str, text: &str) -> Vec<u8> {
    let settings = nexus_avatar::lip_sync::espeak::VoiceSettings { voice: voice.into(), rate_wpm: 150, pitch: 40 };
    let speech = nexus_avatar::lip_sync::espeak::synthesize(text, &settings).expect("espeak-ng");
    nexus_server::companion::voice::wav(&speech.samples, speech.sample_rate)
}

const FRENCH_LINE: &str = "Bonsoir. Je suis fatigué ce soir. On parle un peu de cinéma ?";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_with_no_language_hint_is_heard_in_the_language_spoken() {
    use nexus_server::companion::listen::{self, Hint};
    let models = nexus_server::moderation::classifier::default_models_dir();
    let Some(ears) = listen::local_transcriber(&models) else {
        assert!(std::env::var_os("NEXUS_TEST_REQUIRE_MODELS").is_none(), "speech-to-text models missing");
        return;
    };
    for (voice, text, language, word) in [
        ("fr", FRENCH_LINE, "fr", "cinéma"),
        ("en-us", "Hello, how was your day? I went hiking in the mountains with my dog.", "en", "mountains"),
    ] {
        let samples = listen::decode_wav(&spoken_clip(voice, text)).expect("wav");
        let heard = listen::transcribe(&ears, samples, Hint::default()).await.expect("transcript");
        assert_eq!(heard.language, language, "{heard:?}");
        assert!(heard.text.to_lowercase().contains(word), "{heard:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_message_is_transcribed_answered_and_spoken_back_with_aligned_visemes() {
    let app = TestApp::sqlite().await;
    let ada = app.user("ada").await;
    let made =
        create(&app, &ada, json!({"name": "Mira", "voice": {"voice": "en-us+f3", "rate_wpm": 170, "pitch": 55}})).await;
    let id = made.body["id"].as_str().unwrap_or_else(|| panic!("{}", made.body)).to_owned();
    // The user's voice: espeak-ng, a different voice from the companion's.
    let said = "Hello Mira. My brother Tom plays the guitar in a jazz band.";
    let settings = nexus_avatar::lip_sync::espeak::VoiceSettings { voice: "en-us".into(), rate_wpm: 150, pitch: 40 };
    let speech = nexus_avatar::lip_sync::espeak::synthesize(said, &settings).expect("espeak-ng");
    let clip = nexus_server::companion::voice::wav(&speech.samples, speech.sample_rate);
    let path = format!("/api/v1/companions/{id}/voice");
    let r = app.send(Method::POST, &path, Some(&ada.token), &[("content-type", "audio/wav")], clip.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // The transcript has the words.
    let transcript = r.body["transcript"]["text"].as_str().expect("transcript").to_lowercase();
    for word in ["brother", "tom", "guitar", "jazz"] {
        assert!(transcript.contains(word), "{word} missing from {transcript:?}");
    }
    assert_eq!(r.body["transcript"]["language"], "en");
    // It went through moderation as a transcript, was remembered, and was answered.
    let turn = &r.body["turn"];
    assert_eq!(turn["moderation"]["action"], "allow");
    assert!(
        turn["remembered"]
            .as_array()
            .is_some_and(|m| m.iter().any(|f| f.as_str().is_some_and(|f| f.contains("guitar")))),
        "{transcript:?} → {}",
        turn["remembered"]
    );
    let reply = &turn["reply"];
    assert!(!reply["text"].as_str().expect("text").is_empty());

    let speech = &reply["speech"];
    assert_eq!((&speech["voice"], &speech["engine"]), (&json!("en-us+f3"), &json!("espeak-ng")));
    assert_spoken(speech);

    // The log keeps the transcript as the user's message.
    let log = app.get(&format!("/api/v1/companions/{id}/messages"), Some(&ada.token)).await;
    assert_eq!(log.body[0]["content"], r.body["transcript"]["text"]);

    // A companion with a French voice is spoken to in French, and hears French words.
    let lea =
        create(&app, &ada, json!({"name": "Léa", "voice": {"voice": "fr+f3", "rate_wpm": 160, "pitch": 55}})).await;
    let lea = lea.body["id"].as_str().unwrap_or_else(|| panic!("{}", lea.body)).to_owned();
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/companions/{lea}/voice"),
            Some(&ada.token),
            &[("content-type", "audio/wav")],
            spoken_clip("fr", FRENCH_LINE),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["transcript"]["language"], "fr", "{}", r.body["transcript"]);
    let transcript = r.body["transcript"]["text"].as_str().expect("transcript").to_lowercase();
    for word in ["soir", "cinéma"] {
        assert!(transcript.contains(word), "{word} missing from {transcript:?}");
    }

    // Bad audio gets a clear error.
    let not_wav = app
        .send(Method::POST, &path, Some(&ada.token), &[("content-type", "audio/wav")], b"RIFF....nope".to_vec())
        .await;
    assert_eq!(not_wav.code(), "invalid_audio");
    let wrong_type = app.send(Method::POST, &path, Some(&ada.token), &[("content-type", "text/plain")], clip).await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let silence = nexus_server::companion::voice::wav(&vec![0; 16_000 * 2], 16_000);
    let quiet = app.send(Method::POST, &path, Some(&ada.token), &[("content-type", "audio/wav")], silence).await;
    assert_eq!(quiet.code(), "no_speech", "{}", quiet.body);
}
