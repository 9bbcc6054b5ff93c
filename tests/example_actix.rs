//! `examples/actix_chat.rs` serves the whole chat contract over real HTTP.

mod common;

#[path = "../examples/actix_chat.rs"]
#[allow(dead_code)] // its `main` is not used here
mod actix_chat;

#[path = "common/chat_contract.rs"]
mod chat_contract;

#[tokio::test]
async fn the_actix_example_honours_the_contract() {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            actix_chat::shared::metrics();
            let server =
                actix_web::HttpServer::new(|| actix_web::App::new().configure(actix_chat::routes))
                    .workers(1)
                    .disable_signals()
                    .bind(("127.0.0.1", 0))
                    .unwrap();
            addr_tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    chat_contract::all(addr_rx.recv().unwrap()).await;
}
