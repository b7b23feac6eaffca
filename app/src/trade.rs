//! `/trade` (paper trading) and `/trade/orders/{number}` (one order).
//!
//! The server renders the whole desk (account, positions, open orders,
//! history) and, with `?symbol=`, a stock lookup. The order and cancel
//! forms are plain HTML forms posting to server functions that answer with
//! a redirect back here saying what happened, so the page works without
//! WASM. After hydration the page follows two streams: the user's
//! `/api/orders/stream` (any change reads the desk again) and `/api/stream`
//! (views revalue the positions at live prices; `stock` events update the
//! looked-up stock's available quantity, through the client package's
//! [`StockCache`]).

use crate::account::encode;
use crate::components::{Connection, StatusBadge};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use tickpulse_client::StockCache;
use tickpulse_core::trade::{Account, Desk, Order, Refusal, Stock};
use tickpulse_core::{Price, Symbol};

/// Orders the history shows.
pub const HISTORY: usize = 50;

#[server]
pub async fn load_desk() -> Result<Desk, AppError> {
    let user = crate::ssr::user().await?;
    crate::ssr::services()?
        .trading
        .desk(&user.username)
        .await
        .map_err(AppError::respond)
}

#[server]
pub async fn lookup_stock(symbol: String) -> Result<Option<Stock>, AppError> {
    crate::ssr::user().await?;
    let symbol = Symbol::new_checked(symbol.trim()).map_err(|e| {
        AppError::BadParam {
            field: "symbol".into(),
            message: format!("{:?} {e}", symbol.trim()),
        }
        .respond()
    })?;
    crate::ssr::services()?
        .trading
        .stock(&symbol)
        .await
        .map_err(AppError::respond)
}

#[server]
pub async fn load_order(number: i64) -> Result<Option<Order>, AppError> {
    let user = crate::ssr::user().await?;
    crate::ssr::services()?
        .trading
        .order(&user, number)
        .await
        .map_err(AppError::respond)
}

/// Where a form goes back to, saying what happened.
pub fn outcome_query(outcome: &Result<Order, AppError>) -> String {
    match outcome {
        Ok(order) => format!("placed={}&status={}", order.number, order.status),
        Err(AppError::Refused(code)) => format!("refused={}", encode(code)),
        Err(AppError::BadParam { field, message }) => {
            format!("invalid={}&reason={}", encode(field), encode(message))
        }
        Err(AppError::Conflict(message)) | Err(AppError::NotFound(message)) => {
            format!("problem={}", encode(message))
        }
        Err(AppError::SignInRequired) => "problem=sign%20in%20first".into(),
        Err(e) => format!("problem={}", encode(&e.to_string())),
    }
}

/// Places an order from the form and goes back to `/trade`. Under `/api/`,
/// so the API's rate limit applies to it as to `POST /api/orders`.
#[server(prefix = "/api/trade", endpoint = "place")]
pub async fn place_order(
    symbol: String,
    side: String,
    quantity: String,
    kind: String,
    limit_price: Option<String>,
    time_in_force: Option<String>,
) -> Result<(), AppError> {
    let form = tickpulse_core::trade::OrderForm {
        symbol: symbol.clone(),
        side,
        quantity,
        order_type: kind,
        limit_price,
        time_in_force,
    };
    let outcome = match crate::ssr::user().await {
        Ok(user) => {
            crate::ssr::services()?
                .trading
                .place(&user.username, form)
                .await
        }
        Err(e) => Err(e),
    };
    let back = encode(symbol.trim());
    leptos_axum::redirect(&format!("/trade?symbol={back}&{}", outcome_query(&outcome)));
    Ok(())
}

/// Cancels an order from its button and goes back to `/trade`.
#[server(prefix = "/api/trade", endpoint = "cancel")]
pub async fn cancel_order(number: String) -> Result<(), AppError> {
    let outcome = match (crate::ssr::user().await, number.trim().parse::<i64>()) {
        (Ok(user), Ok(n)) => {
            crate::ssr::services()?
                .trading
                .cancel(&user.username, n)
                .await
        }
        (Err(e), _) => Err(e),
        (_, Err(_)) => Err(AppError::BadParam {
            field: "number".into(),
            message: format!("{number:?} is not an order number"),
        }),
    };
    let query = match &outcome {
        Ok(order) => format!("canceled={}", order.number),
        Err(_) => outcome_query(&outcome),
    };
    leptos_axum::redirect(&format!("/trade?{query}"));
    Ok(())
}

/// What the last form post did, from the query, in words.
fn notice(q: &leptos_router::params::ParamsMap) -> Option<(bool, String)> {
    if let Some(n) = q.get("placed") {
        let status = q.get("status").unwrap_or_default().replace('_', " ");
        return Some((true, format!("Order {n} placed: {status}.")));
    }
    if let Some(n) = q.get("canceled") {
        return Some((
            true,
            format!("Order {n} canceled; what it held is released."),
        ));
    }
    if let Some(code) = q.get("refused") {
        let words = Refusal::parse(&code).map_or("the order was refused", |r| r.message());
        return Some((false, format!("Order refused: {words}.")));
    }
    if let Some(field) = q.get("invalid") {
        let reason = q.get("reason").unwrap_or_default();
        return Some((false, format!("Check {field}: {reason}.")));
    }
    q.get("problem").map(|p| (false, format!("{p}.")))
}

fn money(m: tickpulse_core::Money) -> String {
    m.value().round_dp(2).normalize().to_string()
}

fn pnl_class(m: Option<tickpulse_core::Money>) -> &'static str {
    match m {
        Some(m) if m.value().is_sign_positive() && !m.value().is_zero() => "num pnl pos",
        Some(m) if m.value().is_sign_negative() => "num pnl neg",
        _ => "num pnl",
    }
}

fn price_text(p: Option<Price>) -> String {
    p.map_or_else(|| "—".to_owned(), |p| p.to_string())
}

#[component]
pub fn TradePage() -> impl IntoView {
    let query = use_query_map();
    let desk = Resource::new(|| (), |_| load_desk());
    let looked_up = Memo::new(move |_| {
        query
            .with(|q| q.get("symbol"))
            .filter(|s| !s.trim().is_empty())
    });
    let lookup = Resource::new(
        move || looked_up.get(),
        |symbol| async move {
            match symbol {
                Some(s) => lookup_stock(s).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let status = RwSignal::new(Connection::Connecting);
    // Live prices by symbol (from views), and the looked-up stock.
    let prices = RwSignal::new(std::collections::HashMap::<Symbol, Price>::new());
    let stocks = StoredValue::new(StockCache::new());
    let stock = RwSignal::new(None::<Stock>);
    #[cfg(feature = "hydrate")]
    follow(desk, prices, stocks, stock, status);
    let message = move || {
        query.with(notice).map(|(ok, text)| {
            let class = if ok { "notice" } else { "error" };
            let role = if ok { "status" } else { "alert" };
            view! { <p class=class role=role id="trade-notice">{text}</p> }
        })
    };
    view! {
        <main class="page trade-page">
            <header class="top">
                <h1 class="brand">"Trade"</h1>
                <StatusBadge status/>
            </header>
            {message}
            <section class="lookup" aria-label="Stock lookup">
                <form method="get" action="/trade" class="inline">
                    <label>
                        "Stock "
                        <input name="symbol" placeholder="BTC-USD" prop:value=move || looked_up.get().unwrap_or_default() value=move || looked_up.get().unwrap_or_default()/>
                    </label>
                    <button type="submit">"Look up"</button>
                </form>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match lookup.await {
                            Ok(Some(Some(found))) => {
                                stocks.update_value(|c| c.put(found.clone()));
                                stock.set(Some(found.clone()));
                                view! { <StockCard stock/> <OrderForm symbol=found.symbol.to_string()/> }.into_any()
                            }
                            Ok(Some(None)) => view! {
                                <p class="error" role="alert" id="lookup-error">
                                    {looked_up.get_untracked().unwrap_or_default()} " is not in the catalog."
                                </p>
                            }.into_any(),
                            Ok(None) => view! { <OrderForm symbol=String::new()/> }.into_any(),
                            Err(e) => view! { <p class="error" role="alert" id="lookup-error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
            <Suspense fallback=|| view! { <p class="muted">"Loading your account…"</p> }>
                {move || Suspend::new(async move {
                    match desk.await {
                        Ok(d) => view! { <DeskView desk=d prices/> }.into_any(),
                        Err(e) => view! {
                            <p class="error" role="alert">"Your account cannot be shown (" {e.to_string()} ")."</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn StockCard(stock: RwSignal<Option<Stock>>) -> impl IntoView {
    let field = move |f: fn(&Stock) -> String| {
        move || stock.with(|s| s.as_ref().map(f).unwrap_or_default())
    };
    view! {
        <dl class="stock" id="stock">
            <dt>"Stock"</dt>
            <dd class="symbol">{field(|s| s.symbol.to_string())}</dd>
            <dt>"Name"</dt>
            <dd>{field(|s| s.name.clone())}</dd>
            <dt>"Price"</dt>
            <dd class="num price">{field(|s| price_text(s.price))}</dd>
            <dt>"Available"</dt>
            <dd class="num available">{field(|s| s.available.to_string())}</dd>
        </dl>
    }
}

#[component]
fn OrderForm(symbol: String) -> impl IntoView {
    view! {
        <form method="post" action="/api/trade/place" class="order" id="order-form">
            <label>"Stock " <input name="symbol" value=symbol required/></label>
            <label>
                "Side "
                <select name="side">
                    <option value="buy">"Buy"</option>
                    <option value="sell">"Sell"</option>
                </select>
            </label>
            <label>"Quantity " <input name="quantity" inputmode="numeric" value="1" required/></label>
            <label>
                "Type "
                <select name="kind">
                    <option value="market">"Market"</option>
                    <option value="limit">"Limit"</option>
                </select>
            </label>
            <label>"Limit price " <input name="limit_price" inputmode="decimal" placeholder="for limit orders"/></label>
            <label>
                "Time in force "
                <select name="time_in_force">
                    <option value="day">"Day"</option>
                    <option value="gtc">"Until canceled"</option>
                    <option value="ioc">"Immediate or cancel"</option>
                </select>
            </label>
            <button type="submit">"Place order"</button>
        </form>
    }
}

#[component]
fn DeskView(
    desk: Desk,
    prices: RwSignal<std::collections::HashMap<Symbol, Price>>,
) -> impl IntoView {
    let Desk {
        account,
        open,
        history,
    } = desk;
    let account = Memo::new(move |_| {
        let live = prices.get();
        account.clone().revalued(|s| live.get(s).copied())
    });
    let figure =
        move |f: fn(&Account) -> tickpulse_core::Money| move || account.with(|a| money(f(a)));
    view! {
        <section class="account" aria-label="Account">
            <dl class="figures">
                <dt>"Cash"</dt><dd class="num" id="cash">{figure(|a| a.cash)}</dd>
                <dt>"Reserved"</dt><dd class="num" id="reserved">{figure(|a| a.reserved_cash)}</dd>
                <dt>"Buying power"</dt><dd class="num" id="buying-power">{figure(|a| a.buying_power)}</dd>
                <dt>"Equity"</dt><dd class="num" id="equity">{figure(|a| a.equity)}</dd>
            </dl>
        </section>
        <section aria-label="Positions">
            <h2>"Positions"</h2>
            <table class="quotes positions" id="positions">
                <thead><tr>
                    <th scope="col">"Stock"</th><th scope="col" class="num">"Quantity"</th>
                    <th scope="col" class="num">"Reserved"</th><th scope="col" class="num">"Avg price"</th>
                    <th scope="col" class="num">"Price"</th><th scope="col" class="num">"Value"</th>
                    <th scope="col" class="num">"Unrealized P&L"</th>
                </tr></thead>
                <tbody>
                    <For each=move || account.with(|a| a.positions.clone()) key=|p| (p.symbol.clone(), p.quantity, p.price) let:p>
                        <tr data-symbol=p.symbol.to_string()>
                            <th scope="row"><a href=format!("/symbols/{}", p.symbol)>{p.symbol.to_string()}</a></th>
                            <td class="num quantity">{p.quantity.get()}</td>
                            <td class="num">{p.reserved.get()}</td>
                            <td class="num">{money(p.avg_price)}</td>
                            <td class="num price">{price_text(p.price)}</td>
                            <td class="num value">{p.market_value.map(money).unwrap_or_default()}</td>
                            <td class=pnl_class(p.unrealized_pnl)>{p.unrealized_pnl.map(money).unwrap_or_default()}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
            <Show when=move || account.with(|a| a.positions.is_empty())>
                <p class="empty">"No positions yet: look up a stock and buy."</p>
            </Show>
        </section>
        <section aria-label="Open orders">
            <h2>"Open orders"</h2>
            <OrderTable orders=open.clone() cancel=true id="open-orders"/>
            {open.is_empty().then(|| view! { <p class="empty">"No open orders."</p> })}
        </section>
        <section aria-label="Order history">
            <h2>"Order history"</h2>
            <OrderTable orders=history cancel=false id="history"/>
        </section>
    }
}

#[component]
fn OrderTable(orders: Vec<Order>, cancel: bool, id: &'static str) -> impl IntoView {
    view! {
        <table class="quotes orders" id=id>
            <thead><tr>
                <th scope="col">"Number"</th><th scope="col">"Stock"</th><th scope="col">"Side"</th>
                <th scope="col">"Type"</th><th scope="col" class="num">"Quantity"</th>
                <th scope="col" class="num">"Limit"</th><th scope="col" class="num">"Filled"</th>
                <th scope="col" class="num">"Avg fill"</th><th scope="col">"Status"</th>
                {cancel.then(|| view! { <th scope="col"><span class="sr-only">"Cancel"</span></th> })}
            </tr></thead>
            <tbody>
                {orders.into_iter().map(|o| {
                    let number = o.number.get();
                    view! {
                        <tr data-number=number data-status=o.status.as_str()>
                            <th scope="row"><a href=format!("/trade/orders/{number}")>{number}</a></th>
                            <td>{o.symbol.to_string()}</td>
                            <td>{o.side.as_str()}</td>
                            <td>{o.order_type.as_str()}</td>
                            <td class="num">{o.quantity.get()}</td>
                            <td class="num">{price_text(o.limit_price)}</td>
                            <td class="num">{o.filled_quantity.get()}</td>
                            <td class="num">{price_text(o.avg_fill_price)}</td>
                            <td class="status">{o.status.as_str().replace('_', " ")}</td>
                            {cancel.then(|| view! {
                                <td>
                                    <form method="post" action="/api/trade/cancel" class="inline">
                                        <input type="hidden" name="number" value=number/>
                                        <button type="submit">"Cancel " {number}</button>
                                    </form>
                                </td>
                            })}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Follows the user's orders (any change reads the desk again) and the
/// market (views revalue positions; ticks and `stock` events update the
/// looked-up stock through the cache). When a stream (re)opens, the desk
/// and the lookup are read again: nothing missed while away stays.
#[cfg(feature = "hydrate")]
fn follow(
    desk: Resource<Result<Desk, AppError>>,
    prices: RwSignal<std::collections::HashMap<Symbol, Price>>,
    stocks: StoredValue<StockCache>,
    stock: RwSignal<Option<Stock>>,
    status: RwSignal<Connection>,
) {
    use tickpulse_client::SseEvent;
    crate::live::follow_url(
        "/api/orders/stream".to_owned(),
        &["snapshot", "order"],
        status,
        move |kind, _| {
            if kind != crate::live::OPENED {
                desk.refetch();
            }
        },
    );
    let market = RwSignal::new(Connection::Connecting);
    crate::live::follow_url(
        "/api/stream".to_owned(),
        &["snapshot", "view", "tick", "stock"],
        market,
        move |kind, data| {
            if kind == "view" {
                if let Ok(view) = serde_json::from_str::<tickpulse_core::View>(data) {
                    prices.update(|p| {
                        p.insert(view.symbol.clone(), view.last.tick.price);
                    });
                }
            }
            let event = SseEvent {
                event: kind.to_owned(),
                id: None,
                data: data.to_owned(),
            };
            let current = stock.with_untracked(|s| s.as_ref().map(|s| s.symbol.clone()));
            if stocks
                .try_update_value(|c| c.on_event(&event))
                .unwrap_or(false)
            {
                if let Some(symbol) = current {
                    let fresh = stocks
                        .try_update_value(|c| c.get(&symbol).cloned())
                        .flatten();
                    if fresh.is_some() {
                        stock.set(fresh);
                    }
                }
            }
        },
    );
}

/// "Trade SYMBOL", for signed-in users (the symbol page's header).
#[component]
pub fn TradeLink(symbol: Memo<String>) -> impl IntoView {
    let me = Resource::new(|| (), |_| crate::account::whoami());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                me.await.ok().flatten().map(|_| {
                    let s = symbol.get();
                    view! { <a href=format!("/trade?symbol={}", encode(&s)) class="trade-link" id="trade-symbol">"Trade " {s.clone()}</a> }
                })
            })}
        </Suspense>
    }
}

/// `/trade/orders/{number}`: one order with its fills.
#[component]
pub fn OrderPage() -> impl IntoView {
    let params = use_params_map();
    let number = Memo::new(move |_| params.with(|p| p.get("number").unwrap_or_default()));
    let order = Resource::new(
        move || number.get(),
        |text| async move {
            match text.parse::<i64>() {
                Ok(n) if n > 0 => load_order(n).await,
                _ => Ok(None),
            }
        },
    );
    view! {
        <main class="page order-page">
            <nav class="crumbs"><a href="/trade">"Trade"</a></nav>
            <h1>"Order " {move || number.get()}</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match order.await {
                        Ok(Some(o)) => view! { <OrderDetail order=o/> }.into_any(),
                        Ok(None) => {
                            #[cfg(feature = "ssr")]
                            if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
                                r.set_status(axum::http::StatusCode::NOT_FOUND);
                            }
                            view! { <p class="error" role="alert" id="order-missing">"You have no order " {number.get_untracked()} "."</p> }.into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn OrderDetail(order: Order) -> impl IntoView {
    let time = |t: Option<tickpulse_core::Timestamp>| {
        t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "—".into())
    };
    view! {
        <dl class="order-detail" id="order" data-status=order.status.as_str()>
            <dt>"Status"</dt><dd class="status">{order.status.as_str().replace('_', " ")}</dd>
            <dt>"Stock"</dt><dd>{order.symbol.to_string()}</dd>
            <dt>"Side"</dt><dd>{order.side.as_str()}</dd>
            <dt>"Type"</dt><dd>{order.order_type.as_str()} " (" {order.time_in_force.as_str()} ")"</dd>
            <dt>"Quantity"</dt><dd class="num">{order.quantity.get()}</dd>
            <dt>"Limit price"</dt><dd class="num">{price_text(order.limit_price)}</dd>
            <dt>"Filled"</dt><dd class="num">{order.filled_quantity.get()} " at " {price_text(order.avg_fill_price)}</dd>
            <dt>"Client order id"</dt><dd><code>{order.client_order_id.to_string()}</code></dd>
            <dt>"Placed"</dt><dd>{time(Some(order.created_at))}</dd>
            <dt>"Filled at"</dt><dd>{time(order.filled_at)}</dd>
            <dt>"Canceled at"</dt><dd>{time(order.canceled_at)}</dd>
        </dl>
        <h2>"Fills"</h2>
        <table class="quotes fills">
            <thead><tr><th scope="col">"Time (UTC)"</th><th scope="col" class="num">"Price"</th><th scope="col" class="num">"Quantity"</th><th scope="col">"Tick"</th></tr></thead>
            <tbody>
                {order.fills.iter().map(|f| view! {
                    <tr>
                        <td>{f.ts.to_rfc3339()}</td>
                        <td class="num">{f.price.to_string()}</td>
                        <td class="num">{f.quantity.get()}</td>
                        <td>{f.stream_id.map(|s| s.to_string()).unwrap_or_else(|| "at once".into())}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_body(
        symbol: &str,
        side: &str,
        quantity: &str,
        kind: &str,
        limit_price: Option<&str>,
        time_in_force: Option<&str>,
    ) -> String {
        tickpulse_core::trade::OrderForm {
            symbol: symbol.into(),
            side: side.into(),
            quantity: quantity.into(),
            order_type: kind.into(),
            limit_price: limit_price.map(str::to_owned),
            time_in_force: time_in_force.map(str::to_owned),
        }
        .body()
    }

    #[test]
    fn the_form_becomes_the_api_body() {
        let body = order_body("btc-usd ", "buy", "3", "market", Some("5"), Some("gtc"));
        assert_eq!(
            body,
            r#"{"quantity":3,"side":"buy","symbol":"btc-usd","type":"market"}"#
        );
        let body = order_body("A", "sell", "1.5", "limit", Some("123.4567"), Some("day"));
        let parsed = tickpulse_core::trade::order_request(body.as_bytes()).unwrap_err();
        assert_eq!(parsed[0].field, "quantity");
        let body = order_body("A", "sell", "2", "limit", Some(" 123.4567 "), Some("day"));
        let r = tickpulse_core::trade::order_request(body.as_bytes()).unwrap();
        assert_eq!(r.limit_price.unwrap().to_string(), "123.4567");
        let body = order_body("A", "buy", "x", "limit", Some(""), None);
        let fields: Vec<_> = tickpulse_core::trade::order_request(body.as_bytes())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["quantity", "limit_price"]);
    }

    #[test]
    fn outcomes_read_back_in_words() {
        let q = outcome_query(&Err(AppError::Refused("insufficient_cash".into())));
        assert_eq!(q, "refused=insufficient_cash");
        let q = outcome_query(&Err(AppError::BadParam {
            field: "quantity".into(),
            message: "must be 1 or more".into(),
        }));
        assert_eq!(q, "invalid=quantity&reason=must%20be%201%20or%20more");
    }
}
