//! Webhooks in the test process (the test kit's receivers), and connections made on them.

use connector_settings::CardStyle;

pub use connector_test_kit::receiver::*;

use super::{event_types, subscription, Api};

/// Creates connections `c{i}` for `ids`, each with its own webhook on `receiver`, through
/// `api`, eight at a time.
pub async fn create_many(api: &Api, receiver: &Receiver, ids: std::ops::Range<usize>) {
    let settings = subscription("Many", &event_types()[..1], "", CardStyle::Compact, false);
    let all: Vec<usize> = ids.collect();
    let mut tasks = Vec::new();
    for chunk in all.chunks(all.len().div_ceil(8).max(1)) {
        let (api, receiver, settings, chunk) = (
            api.clone(),
            receiver.clone(),
            settings.clone(),
            chunk.to_vec(),
        );
        tasks.push(tokio::spawn(async move {
            for i in chunk {
                api.create(
                    &format!("c{i}"),
                    &receiver.hook(&format!("g{i}")),
                    &settings,
                )
                .await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
