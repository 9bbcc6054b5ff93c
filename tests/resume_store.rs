//! The store contract on `MemoryStore`.

#[path = "common/store_contract.rs"]
mod store_contract;

use llm_sse::resume::MemoryStore;

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    store_contract::check_store(|retention| async move { MemoryStore::new(retention) }).await;
}
