//! The store: every test below runs against Postgres (a database of its own)
//! and against SQLite (a file of its own), under the same name
//! (`postgres_store::…`, `sqlite_store::…`).

use crate::common;

use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::{StreamId, StreamTick, Symbol, Timestamp};

use tickpulse_core::{candles, Interval};
use tickpulse_server::store::{CatalogEntry, PgStore, SqliteStore, Store, StoreError};

struct StoreFixture {
    store: Arc<dyn Store>,
    _db: Option<common::TestDb>,
    dir: Option<std::path::PathBuf>,
}

impl Drop for StoreFixture {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

trait StoreBackend {
    async fn store() -> StoreFixture;
}

struct Postgres;
struct Sqlite;

impl StoreBackend for Postgres {
    async fn store() -> StoreFixture {
        let db = common::TestDb::create().await;
        let store = PgStore::new(&db.url, Duration::from_secs(5)).unwrap();
        store.migrate().await.unwrap();
        StoreFixture {
            store: Arc::new(store),
            _db: Some(db),
            dir: None,
        }
    }
}

impl StoreBackend for Sqlite {
    async fn store() -> StoreFixture {
        let dir = std::env::temp_dir().join(format!(
            "tickpulse-store-{}-{}",
            std::process::id(),
            Timestamp::now().as_nanos()
        ));
        let store = SqliteStore::open(&dir.join("ticks.db")).await.unwrap();
        store.migrate().await.unwrap();
        StoreFixture {
            store: Arc::new(store),
            _db: None,
            dir: Some(dir),
        }
    }
}

macro_rules! store_conformance {
    ($($name:ident),* $(,)?) => {
        mod postgres_store {
            $(#[tokio::test]
            async fn $name() {
                super::$name::<super::Postgres>().await;
            })*
        }
        mod sqlite_store {
            $(#[tokio::test]
            async fn $name() {
                super::$name::<super::Sqlite>().await;
            })*
        }
    };
}

store_conformance!(
    each_event_id_is_stored_once,
    prices_and_volumes_come_back_exact,
    history_is_newest_first_before_a_time,
    candles_match_the_same_computation_in_rust,
    a_migrated_store_answers,
    accounts_are_added_once_changed_and_removed,
    alerts_are_logged_and_filtered_newest_first,
    the_catalog_adds_once_updates_and_never_goes_negative,
    orders_reserve_fill_and_release_in_one_transaction,
    a_client_order_id_places_once_and_refusals_write_nothing,
    concurrent_buys_never_take_the_last_share_twice,
    tokens_belong_to_their_user,
    watchlists_keep_their_order_and_names_once_per_user,
    watchlist_limits_refuse_and_write_nothing,
    watchlists_belong_to_their_user,
    concurrent_watchlist_changes_keep_the_limits,
    the_metric_history_is_written_once_averaged_as_it_ages_and_expires,
);

/// A stream tick as the stream would hand it out.
fn stored(
    n: u64,
    symbol: &str,
    price: &str,
    volume: &str,
    ts_ms: i64,
    event_id: &str,
) -> StreamTick {
    tickpulse_core::fixture::stream_tick(symbol)
        .id(StreamId::new(1_795_000_000_000u64 + n / 100, n))
        .price(price)
        .volume(volume)
        .source("test")
        .ts_ms(ts_ms)
        .event_id(event_id)
        .received_ms(ts_ms + 1)
        .build()
}

async fn each_event_id_is_stored_once<B: StoreBackend>() {
    let f = B::store().await;
    let t0 = common::now_ms() - 60_000;
    let batch: Vec<StreamTick> = (0..5)
        .map(|i| stored(i, "ONCE", "1", "1", t0 + i as i64, &format!("once-{i}")))
        .collect();
    assert_eq!(f.store.insert_ticks(&batch).await.unwrap(), 5);
    // Written again, with two new ones: only those count.
    let mut again = batch[2..].to_vec();
    again.push(stored(5, "ONCE", "1", "1", t0 + 5, "once-5"));
    again.push(stored(6, "ONCE", "1", "1", t0 + 6, "once-6"));
    assert_eq!(f.store.insert_ticks(&again).await.unwrap(), 2);
    assert_eq!(f.store.insert_ticks(&[]).await.unwrap(), 0);
    let asked: Vec<String> = ["once-0", "once-6", "never"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut found = f.store.committed(&asked).await.unwrap();
    found.sort();
    assert_eq!(found, ["once-0", "once-6"]);
    let history = f
        .store
        .history(&Symbol::new("ONCE"), Timestamp::now(), 100)
        .await
        .unwrap();
    assert_eq!(history.len(), 7);
}

async fn prices_and_volumes_come_back_exact<B: StoreBackend>() {
    let f = B::store().await;
    let t0 = common::now_ms() - 60_000;
    let tick = stored(
        1,
        "EXACT",
        "64000.123456789012345678",
        "1.50",
        t0,
        r"exact\1",
    );
    f.store
        .insert_ticks(std::slice::from_ref(&tick))
        .await
        .unwrap();
    let back = f
        .store
        .history(&Symbol::new("EXACT"), Timestamp::now(), 1)
        .await
        .unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].tick.price.to_string(), "64000.123456789012345678");
    assert_eq!(back[0].tick.volume.to_string(), "1.5");
    assert_eq!(back[0].tick.event_id, tick.tick.event_id);
    assert_eq!(back[0].id, tick.id);
    assert_eq!(back[0].tick.ts, tick.tick.ts);
    assert_eq!(back[0].received_at, tick.received_at);
    assert_eq!(back[0].tick.source, tick.tick.source);
}

async fn history_is_newest_first_before_a_time<B: StoreBackend>() {
    let f = B::store().await;
    let t0 = common::now_ms() - 60_000;
    let ticks: Vec<StreamTick> = (0..10)
        .map(|i| {
            stored(
                i,
                "HIST",
                "2",
                "1",
                t0 + 10 * i as i64,
                &format!("hist-{i}"),
            )
        })
        .collect();
    // Another symbol in between must not show.
    let mut all = ticks.clone();
    all.push(stored(50, "OTHER", "3", "1", t0 + 5, "other-1"));
    f.store.insert_ticks(&all).await.unwrap();
    let before = Timestamp::from_epoch_millis(t0 + 75).unwrap();
    let page = f
        .store
        .history(&Symbol::new("HIST"), before, 3)
        .await
        .unwrap();
    let got: Vec<&str> = page.iter().map(|t| t.tick.event_id.as_str()).collect();
    assert_eq!(got, ["hist-7", "hist-6", "hist-5"]);
}

async fn candles_match_the_same_computation_in_rust<B: StoreBackend>() {
    let f = B::store().await;
    let start = (common::now_ms() / 60_000 - 10) * 60_000;
    // 300 ticks over five minutes, prices up and down, some at one time.
    let ticks: Vec<StreamTick> = (0..300u64)
        .map(|i| {
            let ts = start + (i as i64 / 2) * 2_000;
            let price = format!("{}.{:02}", 100 + (i * 37 % 23), i % 100);
            let volume = format!("0.{}", 1 + i % 9);
            stored(i, "CNDL", &price, &volume, ts, &format!("cndl-{i}"))
        })
        .collect();
    f.store.insert_ticks(&ticks).await.unwrap();
    let from = Timestamp::from_epoch_millis(start).unwrap();
    let to = Timestamp::from_epoch_millis(start + 5 * 60_000).unwrap();
    for interval in [Interval::S1, Interval::M1, Interval::M5] {
        let got = f
            .store
            .candles(&Symbol::new("CNDL"), interval, from, to)
            .await
            .unwrap();
        assert_eq!(got, candles(&ticks, interval), "{interval}");
    }
    // Only [from, to): a window of the first minute.
    let first_minute = f
        .store
        .candles(
            &Symbol::new("CNDL"),
            Interval::M1,
            from,
            Timestamp::from_epoch_millis(start + 60_000).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(first_minute.len(), 1);
    assert_eq!(first_minute[0].trades, 60);
}

async fn a_migrated_store_answers<B: StoreBackend>() {
    let f = B::store().await;
    f.store.ping().await.unwrap();
    // Migrating again changes nothing.
    f.store.migrate().await.unwrap();
    f.store.ping().await.unwrap();
}

async fn accounts_are_added_once_changed_and_removed<B: StoreBackend>() {
    use tickpulse_core::account::Role;
    use tickpulse_server::store::UserRecord;
    let f = B::store().await;
    let s = &f.store;
    assert_eq!(s.user_count().await.unwrap(), 0);
    let user = |name: &str, role| UserRecord {
        username: name.into(),
        password_hash: format!("$argon2id$hash-of-{name}"),
        role,
        created_at: 1_795_000_000_000,
    };
    assert!(s.add_user(&user("zoe", Role::Viewer)).await.unwrap());
    assert!(s.add_user(&user("adam", Role::Admin)).await.unwrap());
    assert!(
        !s.add_user(&user("zoe", Role::Admin)).await.unwrap(),
        "a taken name is refused and left as it was"
    );
    assert_eq!(s.user_count().await.unwrap(), 2);
    let all = s.users().await.unwrap();
    assert_eq!(all, [user("adam", Role::Admin), user("zoe", Role::Viewer)]);
    assert_eq!(
        s.user("zoe").await.unwrap(),
        Some(user("zoe", Role::Viewer))
    );
    assert_eq!(s.user("nobody").await.unwrap(), None);
    assert!(s.set_password("zoe", "$argon2id$new").await.unwrap());
    assert!(!s.set_password("nobody", "$argon2id$new").await.unwrap());
    assert_eq!(
        s.user("zoe").await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    assert!(s.remove_user("zoe").await.unwrap());
    assert!(!s.remove_user("zoe").await.unwrap());
    assert_eq!(s.user_count().await.unwrap(), 1);
}

async fn alerts_are_logged_and_filtered_newest_first<B: StoreBackend>() {
    use tickpulse_core::health::{Alert, Severity};
    use tickpulse_server::store::AlertFilter;
    let f = B::store().await;
    let s = &f.store;
    let alert = |at: i64, kind: &str, subject: &str, severity| Alert {
        id: 0,
        at,
        kind: kind.into(),
        subject: subject.into(),
        severity,
        message: format!("{kind} {subject}"),
    };
    s.add_alerts(&[
        alert(1, "node.suspect", "n1", Severity::Warning),
        alert(2, "node.down", "n1", Severity::Critical),
        alert(3, "feed.stale", "sim", Severity::Warning),
    ])
    .await
    .unwrap();
    s.add_alerts(&[alert(4, "node.recovered", "n1", Severity::Info)])
        .await
        .unwrap();
    let all = s
        .alerts(&AlertFilter {
            limit: 10,
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    let at: Vec<i64> = all.iter().map(|a| a.at).collect();
    assert_eq!(at, [4, 3, 2, 1], "newest first");
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "ids grow");
    assert_eq!(all[1].message, "feed.stale sim");
    let nodes = s
        .alerts(&AlertFilter {
            scope: Some("node".into()),
            limit: 10,
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(nodes.len(), 3);
    let critical = s
        .alerts(&AlertFilter {
            severity: Some(Severity::Critical),
            subject: Some("n1".into()),
            limit: 10,
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(critical.len(), 1);
    assert_eq!(critical[0].kind, "node.down");
    let page = s
        .alerts(&AlertFilter {
            before_id: Some(all[1].id),
            limit: 1,
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].at, 2, "the page after the second newest");
}

async fn the_catalog_adds_once_updates_and_never_goes_negative<B: StoreBackend>() {
    let f = B::store().await;
    let s = &f.store;
    let entry = |symbol: &str, available| CatalogEntry {
        symbol: symbol.into(),
        name: format!("{symbol} Inc."),
        available,
        created_at: 1_000,
    };
    assert!(s.add_stock(&entry("ZZZ", 5)).await.unwrap());
    assert!(
        !s.add_stock(&entry("ZZZ", 9)).await.unwrap(),
        "a second add changes nothing"
    );
    assert_eq!(s.stock("ZZZ").await.unwrap(), Some(entry("ZZZ", 5)));
    assert!(s.add_stock(&entry("AAA", 0)).await.unwrap());
    let symbols: Vec<String> = s
        .stocks()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.symbol)
        .collect();
    assert_eq!(symbols, ["AAA", "ZZZ"], "by symbol");
    assert_eq!(s.stock("NONE").await.unwrap(), None);

    // A put updates name and quantity and keeps when it was created.
    let renamed = CatalogEntry {
        name: "Zed".into(),
        available: 7,
        created_at: 2_000,
        ..entry("ZZZ", 0)
    };
    assert!(!s.put_stock(&renamed).await.unwrap());
    let back = s.stock("ZZZ").await.unwrap().unwrap();
    assert_eq!(
        (back.name.as_str(), back.available, back.created_at),
        ("Zed", 7, 1_000)
    );
    assert!(
        s.put_stock(&entry("NEW", 3)).await.unwrap(),
        "a put adds a new symbol"
    );

    assert!(s.set_available("NEW", 0).await.unwrap());
    assert!(!s.set_available("NONE", 1).await.unwrap());
    // The database itself refuses a negative quantity, and keeps the old one.
    assert!(matches!(
        s.set_available("NEW", -1).await,
        Err(StoreError::Rejected(_))
    ));
    assert_eq!(s.stock("NEW").await.unwrap().unwrap().available, 0);
}

mod trading {
    use super::*;
    use rust_decimal::Decimal;
    use tickpulse_core::account::Role;
    use tickpulse_core::trade::{order_request, ClientOrderId};
    pub use tickpulse_core::trade::{OrderStatus as Status, Refusal as Refused};
    pub use tickpulse_core::Price;
    pub use tickpulse_server::store::trading::{
        Ended as EndedOrder, NewOrder, OrderQuery, Placed, StatusFilter as Filter,
    };
    use tickpulse_server::store::UserRecord;

    pub const START: i64 = 1_000;

    pub async fn user(s: &Arc<dyn Store>, name: &str) {
        assert!(s
            .add_user(&UserRecord {
                username: name.into(),
                password_hash: "$argon2id$not-used".into(),
                role: Role::Viewer,
                created_at: 1,
            })
            .await
            .unwrap());
    }

    pub async fn stock(s: &Arc<dyn Store>, symbol: &str, available: i64) {
        assert!(s
            .add_stock(&CatalogEntry {
                symbol: symbol.into(),
                name: symbol.into(),
                available,
                created_at: 1,
            })
            .await
            .unwrap());
    }

    /// Places the order `body` for `user` at `price` (none: no live price).
    pub async fn place(
        s: &Arc<dyn Store>,
        user: &str,
        body: &str,
        client_id: &str,
        price: Option<&str>,
    ) -> Placed {
        let request = order_request(body.as_bytes()).unwrap();
        s.place_order(&NewOrder {
            user,
            request: &request,
            client_order_id: &ClientOrderId::new_checked(client_id).unwrap(),
            price: price.map(|p| Price::parse(p).unwrap()),
            starting_cash: Decimal::from(START),
            now: Timestamp::now(),
        })
        .await
        .unwrap()
    }

    pub fn created(p: Placed) -> tickpulse_server::store::trading::Change {
        match p {
            Placed::Created(c) => c,
            other => panic!("not placed: {other:?}"),
        }
    }

    pub fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    pub fn all(limit: usize) -> OrderQuery {
        OrderQuery {
            status: Filter::All,
            limit,
            before: None,
        }
    }
}

async fn orders_reserve_fill_and_release_in_one_transaction<B: StoreBackend>() {
    use rust_decimal::Decimal;
    use trading::*;
    let f = B::store().await;
    let s = &f.store;
    user(s, "ann").await;
    stock(s, "TRD", 10).await;
    // A market buy fills at once at the given price.
    let buy = created(
        place(
            s,
            "ann",
            r#"{"symbol":"TRD","side":"buy","quantity":3,"type":"market"}"#,
            "m1",
            Some("10.25"),
        )
        .await,
    );
    assert_eq!(buy.order.status, Status::Filled);
    assert_eq!(buy.order.avg_fill_price.unwrap().to_string(), "10.25");
    assert_eq!(buy.fill.as_ref().unwrap().quantity.get(), 3);
    assert_eq!(buy.stock.as_ref().unwrap().available.get(), 7);
    let h = s.holdings("ann", Decimal::from(START)).await.unwrap();
    assert_eq!((h.cash, h.reserved_cash), (dec("969.25"), Decimal::ZERO));
    assert_eq!(
        (h.positions[0].quantity.get(), h.positions[0].avg_price),
        (3, dec("10.25"))
    );

    // A limit buy under the market rests, holding cash and catalog shares,
    // exactly as given.
    let limit = created(
        place(s, "ann", r#"{"symbol":"TRD","side":"buy","quantity":2,"type":"limit","limit_price":"123.4567","time_in_force":"gtc"}"#, "l1", Some("200")).await,
    );
    assert_eq!(limit.order.status, Status::New);
    assert_eq!(limit.order.limit_price.unwrap().to_string(), "123.4567");
    assert_eq!(limit.stock.as_ref().unwrap().available.get(), 5);
    let h = s.holdings("ann", Decimal::from(START)).await.unwrap();
    assert_eq!(h.reserved_cash, dec("246.9134"));
    let back = s.order(limit.order.number).await.unwrap().unwrap();
    assert_eq!(
        (
            back.user.as_str(),
            back.order.limit_price.unwrap().to_string()
        ),
        ("ann", "123.4567".to_owned())
    );
    // A price that does not cross leaves it; one that does fills it once.
    let id = StreamId::new(1_795_000_000_000, 1);
    let now = Timestamp::now();
    assert!(s
        .fill_order(limit.order.number, Price::parse("124").unwrap(), id, now)
        .await
        .unwrap()
        .is_none());
    let filled = s
        .fill_order(limit.order.number, Price::parse("120.5").unwrap(), id, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(filled.order.status, Status::Filled);
    assert_eq!(filled.order.fills.len(), 1);
    assert_eq!(filled.order.fills[0].stream_id, Some(id));
    assert!(
        filled.stock.is_none(),
        "the shares were taken out of available when it was placed"
    );
    assert!(
        s.fill_order(limit.order.number, Price::parse("120.5").unwrap(), id, now)
            .await
            .unwrap()
            .is_none(),
        "filled once"
    );
    let h = s.holdings("ann", Decimal::from(START)).await.unwrap();
    assert_eq!(
        (h.cash, h.reserved_cash, h.positions[0].quantity.get()),
        (dec("728.25"), Decimal::ZERO, 5)
    );
    assert_eq!(s.stock("TRD").await.unwrap().unwrap().available, 5);

    // A limit sell reserves the shares; canceling gives them back, once.
    let sell = created(
        place(
            s,
            "ann",
            r#"{"symbol":"TRD","side":"sell","quantity":4,"type":"limit","limit_price":"500"}"#,
            "s1",
            Some("120"),
        )
        .await,
    );
    assert_eq!(sell.order.status, Status::New);
    assert_eq!(
        s.holdings("ann", Decimal::from(START))
            .await
            .unwrap()
            .positions[0]
            .reserved
            .get(),
        4
    );
    match s
        .end_order(sell.order.number, Some("bob"), Status::Canceled, now)
        .await
        .unwrap()
    {
        EndedOrder::NotFound => {}
        other => panic!("another user's order: {other:?}"),
    }
    match s
        .end_order(sell.order.number, Some("ann"), Status::Canceled, now)
        .await
        .unwrap()
    {
        EndedOrder::Done(c) => assert_eq!(
            (c.order.status, c.order.canceled_at.is_some()),
            (Status::Canceled, true)
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.end_order(sell.order.number, Some("ann"), Status::Canceled, now)
            .await
            .unwrap(),
        EndedOrder::Terminal(_)
    ));
    assert_eq!(
        s.holdings("ann", Decimal::from(START))
            .await
            .unwrap()
            .positions[0]
            .reserved
            .get(),
        0
    );

    // Day orders expire at the end of their UTC day.
    let day = created(
        place(
            s,
            "ann",
            r#"{"symbol":"TRD","side":"buy","quantity":1,"type":"limit","limit_price":"1"}"#,
            "d1",
            None,
        )
        .await,
    );
    assert!(s.expiring_orders(now).await.unwrap().is_empty());
    let end = tickpulse_core::trade::day_end(now);
    assert_eq!(s.expiring_orders(end).await.unwrap(), [day.order.number]);

    // Lists: newest first, by status, paged.
    let numbers = |orders: Vec<tickpulse_core::trade::Order>| {
        orders.iter().map(|o| o.number).collect::<Vec<_>>()
    };
    let every = numbers(s.orders("ann", &all(10)).await.unwrap());
    assert_eq!(
        every,
        [
            day.order.number,
            sell.order.number,
            limit.order.number,
            buy.order.number
        ]
    );
    let open = s
        .orders(
            "ann",
            &OrderQuery {
                status: Filter::Open,
                limit: 10,
                before: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(numbers(open), [day.order.number]);
    let page = s
        .orders(
            "ann",
            &OrderQuery {
                status: Filter::Closed,
                limit: 2,
                before: Some(sell.order.number),
            },
        )
        .await
        .unwrap();
    assert_eq!(numbers(page), [limit.order.number, buy.order.number]);
    assert!(s.orders("bob", &all(10)).await.unwrap().is_empty());
    assert_eq!(
        s.order_by_client_id("ann", "l1")
            .await
            .unwrap()
            .unwrap()
            .number,
        limit.order.number
    );
    assert!(s.order_by_client_id("bob", "l1").await.unwrap().is_none());
    let open = s
        .open_limit_orders(&[Symbol::new("TRD"), Symbol::new("NONE")])
        .await
        .unwrap();
    assert_eq!(
        open.iter().map(|o| o.order.number).collect::<Vec<_>>(),
        [day.order.number]
    );
}

async fn a_client_order_id_places_once_and_refusals_write_nothing<B: StoreBackend>() {
    use rust_decimal::Decimal;
    use trading::*;
    let f = B::store().await;
    let s = &f.store;
    user(s, "ann").await;
    stock(s, "ONE", 2).await;
    let body = r#"{"symbol":"ONE","side":"buy","quantity":1,"type":"market"}"#;
    let first = created(place(s, "ann", body, "same", Some("5")).await);
    match place(s, "ann", body, "same", Some("6")).await {
        Placed::Existing(order) => assert_eq!(order, first.order),
        other => panic!("placed twice: {other:?}"),
    }
    let h = s.holdings("ann", Decimal::from(START)).await.unwrap();
    assert_eq!((h.cash, h.positions[0].quantity.get()), (dec("995"), 1));

    let refused = |p: Placed| match p {
        Placed::Refused(r) => r,
        other => panic!("not refused: {other:?}"),
    };
    let big = r#"{"symbol":"ONE","side":"buy","quantity":2,"type":"market"}"#;
    assert_eq!(
        refused(place(s, "ann", big, "r1", Some("5")).await),
        Refused::InsufficientQuantity
    );
    assert_eq!(
        refused(place(s, "ann", body, "r2", None).await),
        Refused::NoLivePrice
    );
    assert_eq!(
        refused(place(s, "ann", body, "r3", Some("996")).await),
        Refused::InsufficientCash
    );
    let sell = r#"{"symbol":"ONE","side":"sell","quantity":2,"type":"market"}"#;
    assert_eq!(
        refused(place(s, "ann", sell, "r4", Some("5")).await),
        Refused::InsufficientPosition
    );
    let unknown = r#"{"symbol":"NOPE","side":"buy","quantity":1,"type":"market"}"#;
    assert_eq!(
        refused(place(s, "ann", unknown, "r5", Some("5")).await),
        Refused::UnknownSymbol
    );
    // Nothing of them was written: a refused id can be used again.
    assert_eq!(s.orders("ann", &all(10)).await.unwrap().len(), 1);
    assert!(s.order_by_client_id("ann", "r1").await.unwrap().is_none());
    assert_eq!(s.stock("ONE").await.unwrap().unwrap().available, 1);
    let h = s.holdings("ann", Decimal::from(START)).await.unwrap();
    assert_eq!((h.cash, h.positions[0].quantity.get()), (dec("995"), 1));
    created(place(s, "ann", body, "r1", Some("5")).await);
}

async fn concurrent_buys_never_take_the_last_share_twice<B: StoreBackend>() {
    use trading::*;
    let f = B::store().await;
    let s = &f.store;
    for u in ["u0", "u1", "u2", "u3"] {
        user(s, u).await;
    }
    stock(s, "LAST", 5).await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let user = format!("u{}", i % 4);
                place(
                    &s,
                    &user,
                    r#"{"symbol":"LAST","side":"buy","quantity":1,"type":"market"}"#,
                    &format!("c{i}"),
                    Some("100"),
                )
                .await
            })
        })
        .collect();
    let mut filled = 0;
    for t in tasks {
        match t.await.unwrap() {
            Placed::Created(c) => {
                assert_eq!(c.order.status, Status::Filled);
                filled += 1;
            }
            Placed::Refused(r) => assert_eq!(r, Refused::InsufficientQuantity),
            Placed::Existing(o) => panic!("{o:?}"),
        }
    }
    assert_eq!(filled, 5);
    assert_eq!(s.stock("LAST").await.unwrap().unwrap().available, 0);
    let mut held = 0;
    let mut cash = rust_decimal::Decimal::ZERO;
    for u in ["u0", "u1", "u2", "u3"] {
        let h = s
            .holdings(u, rust_decimal::Decimal::from(START))
            .await
            .unwrap();
        held += h.positions.iter().map(|p| p.quantity.get()).sum::<u64>();
        cash += h.cash;
    }
    assert_eq!(held, 5);
    assert_eq!(cash, rust_decimal::Decimal::from(4 * START - 500));
}

async fn tokens_belong_to_their_user<B: StoreBackend>() {
    use trading::*;
    let f = B::store().await;
    let s = &f.store;
    user(s, "ann").await;
    assert!(!s.add_token("nobody", "h0", Timestamp::now()).await.unwrap());
    assert!(s.add_token("ann", "h1", Timestamp::now()).await.unwrap());
    assert_eq!(s.token_user("h1").await.unwrap().as_deref(), Some("ann"));
    assert_eq!(s.token_user("h2").await.unwrap(), None);
    assert!(s.remove_user("ann").await.unwrap());
    assert_eq!(
        s.token_user("h1").await.unwrap(),
        None,
        "removed with the user"
    );
}

mod lists {
    pub use tickpulse_core::watchlist::Watchlist;
    pub use tickpulse_server::store::watchlists::{Limits, WatchlistRefusal as No};

    pub const LIMITS: Limits = Limits {
        max_lists: 3,
        max_symbols: 4,
    };

    pub fn symbols(names: &[&str]) -> Vec<tickpulse_core::Symbol> {
        names
            .iter()
            .map(|n| tickpulse_core::Symbol::new(n))
            .collect()
    }

    pub fn names(list: &Watchlist) -> Vec<&str> {
        list.symbols.iter().map(|s| s.as_str()).collect()
    }
}

async fn watchlists_keep_their_order_and_names_once_per_user<B: StoreBackend>() {
    use lists::*;
    let f = B::store().await;
    let s = &f.store;
    trading::user(s, "ann").await;
    let tech = s
        .create_watchlist("ann", "Tech", &symbols(&["NVDA", "AAPL"]), LIMITS, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(names(&tech), ["NVDA", "AAPL"]);
    // Added at the end; adding again keeps one, where it was.
    let after = s
        .add_watchlist_symbol("ann", tech.id, &symbols(&["MSFT"])[0], LIMITS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(names(&after), ["NVDA", "AAPL", "MSFT"]);
    let again = s
        .add_watchlist_symbol("ann", tech.id, &symbols(&["NVDA"])[0], LIMITS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(names(&again), ["NVDA", "AAPL", "MSFT"]);
    assert_eq!(
        names(&s.watchlist("ann", tech.id).await.unwrap().unwrap()),
        ["NVDA", "AAPL", "MSFT"]
    );
    // Names are unique per user whatever the case.
    assert_eq!(
        s.create_watchlist("ann", "TECH", &[], LIMITS, 2)
            .await
            .unwrap(),
        Err(No::NameTaken("TECH".into()))
    );
    let other = s
        .create_watchlist("ann", "Energy", &[], LIMITS, 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.update_watchlist("ann", other.id, Some("tech"), None, LIMITS)
            .await
            .unwrap(),
        Err(No::NameTaken("tech".into()))
    );
    // Renaming to its own name in another case is fine; a replacement keeps
    // the given order.
    let renamed = s
        .update_watchlist(
            "ann",
            tech.id,
            Some("TECH"),
            Some(&symbols(&["MSFT", "NVDA"])),
            LIMITS,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), names(&renamed)),
        ("TECH", vec!["MSFT", "NVDA"])
    );
    let removed = s
        .remove_watchlist_symbol("ann", tech.id, &symbols(&["MSFT"])[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(names(&removed), ["NVDA"]);
    assert_eq!(
        s.remove_watchlist_symbol("ann", tech.id, &symbols(&["MSFT"])[0])
            .await
            .unwrap(),
        Err(No::NotInList(symbols(&["MSFT"])[0].clone()))
    );
    let all = s.watchlists("ann").await.unwrap();
    assert_eq!(
        all.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["TECH", "Energy"],
        "oldest first"
    );
    assert!(s.delete_watchlist("ann", other.id).await.unwrap());
    assert!(!s.delete_watchlist("ann", other.id).await.unwrap());
    assert_eq!(s.watchlists("ann").await.unwrap().len(), 1);
    // A removed user's lists go with them.
    assert!(s.remove_user("ann").await.unwrap());
    assert!(s.watchlist("ann", tech.id).await.unwrap().is_none());
}

async fn watchlist_limits_refuse_and_write_nothing<B: StoreBackend>() {
    use lists::*;
    let f = B::store().await;
    let s = &f.store;
    trading::user(s, "ann").await;
    assert_eq!(
        s.create_watchlist(
            "ann",
            "Big",
            &symbols(&["A", "B", "C", "D", "E"]),
            LIMITS,
            1
        )
        .await
        .unwrap(),
        Err(No::TooManySymbols(4))
    );
    assert!(
        s.watchlists("ann").await.unwrap().is_empty(),
        "nothing saved"
    );
    let full = s
        .create_watchlist("ann", "Full", &symbols(&["A", "B", "C", "D"]), LIMITS, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.add_watchlist_symbol("ann", full.id, &symbols(&["E"])[0], LIMITS)
            .await
            .unwrap(),
        Err(No::TooManySymbols(4))
    );
    // A symbol already in a full list is still "added" (nothing changes).
    assert!(s
        .add_watchlist_symbol("ann", full.id, &symbols(&["A"])[0], LIMITS)
        .await
        .unwrap()
        .is_ok());
    assert_eq!(
        s.update_watchlist(
            "ann",
            full.id,
            Some("Renamed"),
            Some(&symbols(&["A", "B", "C", "D", "E"])),
            LIMITS
        )
        .await
        .unwrap(),
        Err(No::TooManySymbols(4))
    );
    let kept = s.watchlist("ann", full.id).await.unwrap().unwrap();
    assert_eq!(
        (kept.name.as_str(), names(&kept)),
        ("Full", vec!["A", "B", "C", "D"]),
        "a refused change leaves name and symbols as they were"
    );
    for name in ["Two", "Three"] {
        s.create_watchlist("ann", name, &[], LIMITS, 2)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        s.create_watchlist("ann", "Four", &[], LIMITS, 3)
            .await
            .unwrap(),
        Err(No::TooManyLists(3))
    );
    assert_eq!(s.watchlists("ann").await.unwrap().len(), 3);
}

async fn watchlists_belong_to_their_user<B: StoreBackend>() {
    use lists::*;
    let f = B::store().await;
    let s = &f.store;
    trading::user(s, "ann").await;
    trading::user(s, "bob").await;
    let ann = s
        .create_watchlist("ann", "Tech", &symbols(&["A"]), LIMITS, 1)
        .await
        .unwrap()
        .unwrap();
    // Bob may use the same name, and cannot see or touch Ann's list.
    assert!(s
        .create_watchlist("bob", "Tech", &[], LIMITS, 1)
        .await
        .unwrap()
        .is_ok());
    assert!(s.watchlist("bob", ann.id).await.unwrap().is_none());
    assert_eq!(
        s.add_watchlist_symbol("bob", ann.id, &symbols(&["B"])[0], LIMITS)
            .await
            .unwrap(),
        Err(No::NotFound)
    );
    assert_eq!(
        s.update_watchlist("bob", ann.id, Some("Mine"), None, LIMITS)
            .await
            .unwrap(),
        Err(No::NotFound)
    );
    assert_eq!(
        s.remove_watchlist_symbol("bob", ann.id, &symbols(&["A"])[0])
            .await
            .unwrap(),
        Err(No::NotFound)
    );
    assert!(!s.delete_watchlist("bob", ann.id).await.unwrap());
    assert_eq!(
        names(&s.watchlist("ann", ann.id).await.unwrap().unwrap()),
        ["A"]
    );
    assert_eq!(s.watchlists("bob").await.unwrap().len(), 1);
}

async fn concurrent_watchlist_changes_keep_the_limits<B: StoreBackend>() {
    use lists::*;
    let f = B::store().await;
    let s = &f.store;
    trading::user(s, "ann").await;
    let list = s
        .create_watchlist("ann", "Race", &[], LIMITS, 1)
        .await
        .unwrap()
        .unwrap();
    // Ten adds of different symbols at once into a list of at most four:
    // exactly four get in, each once, and the others are refused.
    let id = list.id;
    let adds: Vec<_> = (0..10)
        .map(|i| {
            let s = s.clone();
            let symbol = tickpulse_core::Symbol::new(&format!("S{i}"));
            tokio::spawn(async move { s.add_watchlist_symbol("ann", id, &symbol, LIMITS).await })
        })
        .collect();
    let mut added = 0;
    for a in adds {
        match a.await.unwrap() {
            Ok(Ok(_)) => added += 1,
            Ok(Err(No::TooManySymbols(4))) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, 4);
    assert_eq!(
        s.watchlist("ann", list.id)
            .await
            .unwrap()
            .unwrap()
            .symbols
            .len(),
        4
    );
    // Five new lists at once for a user with one of at most three.
    let creates: Vec<_> = (0..5)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.create_watchlist("ann", &format!("L{i}"), &[], LIMITS, 2)
                    .await
            })
        })
        .collect();
    let mut made = 0;
    for c in creates {
        match c.await.unwrap() {
            Ok(Ok(_)) => made += 1,
            Ok(Err(No::TooManyLists(3))) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(made, 2);
    assert_eq!(s.watchlists("ann").await.unwrap().len(), 3);
}

/// A metric row of `node` at `at` (ms) over `step_secs`, CPU `cpu`.
fn metric(node: &str, at: i64, step_secs: i64, cpu: f64) -> tickpulse_core::health::NodeMetric {
    tickpulse_core::health::NodeMetric {
        node: node.into(),
        at,
        step_secs,
        cpu_pct: cpu,
        rss_bytes: 1e8,
        ingest_rate: cpu * 10.0,
        persist_lag_p99_ms: (cpu > 20.0).then_some(cpu),
        sse_resets: 1.0,
        ..tickpulse_core::health::NodeMetric::default()
    }
}

async fn the_metric_history_is_written_once_averaged_as_it_ages_and_expires<B: StoreBackend>() {
    use tickpulse_server::store::node_metrics::Retention;
    let f = B::store().await;
    let day = Retention::DAY_MS;
    let now = 40 * day;
    // Two days old: six 10-s rows of one minute, and a row of another node.
    let old = now - 2 * day;
    let minute = old - old.rem_euclid(60_000);
    let mut rows: Vec<_> = (0..6)
        .map(|i| metric("n1", minute + i * 10_000, 10, 10.0 * (i + 1) as f64))
        .collect();
    rows.push(metric("n2", minute, 10, 5.0));
    // Fresh rows, and rows beyond the retention.
    rows.push(metric("n1", now - 60_000, 10, 1.0));
    rows.push(metric("n1", now - 31 * day, 60, 1.0));
    f.store.add_node_metrics(&rows).await.unwrap();
    // A retried write (same node, time and step) is kept once.
    f.store.add_node_metrics(&rows[..2]).await.unwrap();
    let all = f.store.node_metrics(0, now, None).await.unwrap();
    assert_eq!(all.len(), rows.len());
    assert_eq!(all[0], rows[8], "by node then time, figures exact");
    let n2 = f.store.node_metrics(0, now, Some("n2")).await.unwrap();
    assert_eq!(n2, vec![rows[6].clone()]);

    let done = f
        .store
        .compact_node_metrics(now, Retention::days(30))
        .await
        .unwrap();
    assert_eq!(done.averaged, 7, "the seven aged rows");
    assert_eq!(done.deleted, 1, "the expired one");
    let after = f.store.node_metrics(0, now, None).await.unwrap();
    let shape: Vec<_> = after
        .iter()
        .map(|r| (r.node.as_str(), r.at, r.step_secs))
        .collect();
    assert_eq!(
        shape,
        [
            ("n1", minute, 60),
            ("n1", now - 60_000, 10),
            ("n2", minute, 60)
        ]
    );
    let averaged = &after[0];
    assert!(
        (averaged.cpu_pct - 35.0).abs() < 1e-9,
        "the mean of 10..60: {averaged:?}"
    );
    assert_eq!(averaged.persist_lag_p99_ms, Some(60.0), "the worst lag");
    assert_eq!(averaged.sse_resets, 6.0, "counts add up");
    // Nothing more to do until rows age again.
    let again = f
        .store
        .compact_node_metrics(now, Retention::days(30))
        .await
        .unwrap();
    assert_eq!((again.averaged, again.deleted), (0, 0));
    // A week later the minute rows become hour rows.
    let later = f
        .store
        .compact_node_metrics(now + 7 * day, Retention::days(30))
        .await
        .unwrap();
    assert_eq!(
        later.averaged, 4,
        "the fresh 10-s row becomes a minute, then the three minutes hours"
    );
    let hours = f.store.node_metrics(0, now + 7 * day, None).await.unwrap();
    assert!(hours.iter().all(|r| r.step_secs == 3_600), "{hours:?}");
}
