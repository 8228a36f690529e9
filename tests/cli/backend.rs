//! `--result-backend`: point reads of a real Redis (its own redis-server on a free port),
//! seeded with the result-backend writes captured from a real Celery 5.7 run.

use crate::common::{RedisServer, fixture, json, run};

/// Stores the newest captured value of every `celery-task-meta-*` key in database `db`.
fn seed(redis: &RedisServer, db: u8) {
    let client = redis::Client::open(redis.url(db)).unwrap();
    let mut conn = client.get_connection().unwrap();
    let text = std::fs::read_to_string(fixture("redis/backend.ndjson")).unwrap();
    for line in text.lines() {
        let rec: serde_json::Value = serde_json::from_str(line).unwrap();
        let (key, value) = (rec["key"].as_str().unwrap(), rec["value"].to_string());
        let () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query(&mut conn)
            .unwrap();
    }
}

#[test]
fn point_reads_make_chords_and_client_groups_exact() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    seed(&redis, 2);
    let chord = json(&run(&[
        "graph",
        "5863",
        "--json",
        "--events",
        &fixture("redis/chord.events.ndjson"),
        "--result-backend",
        &redis.url(2),
    ]));
    assert_eq!(chord["groups"], "backend");
    let node = chord["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "chord")
        .unwrap();
    assert_eq!(
        (
            node["id"].as_str().unwrap(),
            node["members"].as_u64().unwrap()
        ),
        ("b7496f49-255c-461e-9011-de99e05a155c", 3)
    );
    assert!(
        chord["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["inferred"] == false)
    );

    // A group applied from a client: every member is its own root; the backend ties them.
    let group = json(&run(&[
        "graph",
        "a792",
        "--json",
        "--events",
        &fixture("redis/group.events.ndjson"),
        "--result-backend",
        &redis.url(2),
    ]));
    let node = group["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "group")
        .unwrap();
    assert_eq!(
        (
            node["id"].as_str().unwrap(),
            node["inferred"].as_bool().unwrap()
        ),
        ("581d9f60-e045-46da-a0b2-bd4dc354aa07", false)
    );
    assert_eq!(node["members"], 3);

    // An empty database: nothing known, so the structure is guessed and says so.
    let guessed = json(&run(&[
        "graph",
        "5863",
        "--json",
        "--events",
        &fixture("redis/chord.events.ndjson"),
        "--result-backend",
        &redis.url(3),
    ]));
    assert_eq!(guessed["groups"], "inferred");
}

#[test]
fn unreachable_backend_is_exit_4_without_the_password() {
    let out = run(&[
        "graph",
        "5863",
        "--events",
        &fixture("redis/chord.events.ndjson"),
        "--result-backend",
        "redis://:s3cret@127.0.0.1:1/2",
    ]);
    assert_eq!(out.code, 4, "{}", out.normalized());
    assert!(out.stderr.contains("celtrace::backend::unreachable"));
    assert!(!out.stderr.contains("s3cret"));
    let tls = run(&[
        "graph",
        "5863",
        "--events",
        &fixture("redis/chord.events.ndjson"),
        "--result-backend",
        "rediss://h:6380/0",
    ]);
    assert_eq!(tls.code, 4);
    assert!(
        tls.stderr.contains("celtrace::backend::unsupported"),
        "{}",
        tls.stderr
    );
}
