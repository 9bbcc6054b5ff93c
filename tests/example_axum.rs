//! `examples/axum_chat.rs` serves the whole chat contract over real HTTP.

mod common;

#[path = "../examples/axum_chat.rs"]
#[allow(dead_code)] // its `main` is not used here
mod axum_chat;

#[path = "common/chat_contract.rs"]
mod chat_contract;

#[tokio::test]
async fn the_axum_example_honours_the_contract() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum_chat::router()).await.unwrap() });
    chat_contract::all(addr).await;
}
