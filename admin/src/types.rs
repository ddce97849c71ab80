//! `GET /admin/deliveries/{id}`'s answer, as the admin API's branch writes it in
//! `connector_settings::admin::DeliveryDetail`; used from there once merged.

use connector_settings::admin::{Attempt, DeliveryRow};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryRow,
    pub attempt_log: Vec<Attempt>,
}
