//! The page's message catalogue: every string a person reads, in each shipped locale.
//! Field labels and help come from `connector.toml`; field rule messages from the
//! settings crate.

use connector_settings::Locale;

use crate::api::ApiError;

/// The page's strings in one language.
pub struct Strings {
    pub loading: &'static str,
    pub outside_title: &'static str,
    /// Followed by the connector's name.
    pub outside_intro: &'static str,
    pub outside_how: &'static str,
    pub outside_dev: &'static str,
    pub load_failed: &'static str,
    pub retry: &'static str,
    pub not_found: &'static str,
    pub saving: &'static str,
    pub save_failed: &'static str,
    pub saved: &'static str,
    pub network: &'static str,
    pub timed_out: &'static str,
    pub server_fault: &'static str,
    pub forbidden: &'static str,
    pub no_webhook: &'static str,
    pub invalid_form: &'static str,
    pub removing: &'static str,
    pub removed: &'static str,
    pub other_tenant: &'static str,
    pub disabled: &'static str,
    pub send_test: &'static str,
    pub test_sending: &'static str,
    pub test_delivered: &'static str,
    pub test_failed: &'static str,
    pub test_pending: &'static str,
    pub sign_in_failed: &'static str,
    pub remove_failed: &'static str,
}

static EN: Strings = Strings {
    loading: "Loading…",
    outside_title: "Open this page from Microsoft Teams",
    outside_intro: "This is the configuration page of the connector",
    outside_how: "Teams shows it when a channel adds or edits the connector: in a channel, choose ••• › Connectors (or Manage channel › Connectors), find the connector and choose Configure.",
    outside_dev: "To try it without Teams, run `cargo xtask run` and open the emulator address it prints.",
    load_failed: "The saved settings could not be loaded",
    retry: "Try again",
    not_found: "This connection is no longer stored; saving creates it again.",
    saving: "Saving…",
    save_failed: "Could not save",
    saved: "Saved.",
    network: "the server could not be reached; check the connection and try again",
    timed_out: "the server did not answer in time; please try again",
    server_fault: "the server had a problem; please try again in a moment",
    forbidden: "this connection belongs to another channel or webhook",
    no_webhook: "Teams did not provide a webhook URL for this channel",
    invalid_form: "some fields need attention",
    removing: "Removing the connection…",
    removed: "The connection was removed.",
    other_tenant: "this connection belongs to another organisation; sign in with an account of that organisation",
    disabled: "Cards are not delivered: the channel's webhook is gone. Saving enables the connection again. Reason",
    send_test: "Send a test card",
    test_sending: "Sending a test card…",
    test_delivered: "The test card was posted to the channel.",
    test_failed: "The test card could not be posted",
    test_pending: "The test card is still waiting to be posted",
    sign_in_failed: "signing in with Teams failed",
    remove_failed: "Could not remove the connection",
};

static DE: Strings = Strings {
    loading: "Wird geladen…",
    outside_title: "Öffnen Sie diese Seite aus Microsoft Teams",
    outside_intro: "Dies ist die Konfigurationsseite des Connectors",
    outside_how: "Teams zeigt sie an, wenn ein Kanal den Connector hinzufügt oder bearbeitet: Wählen Sie im Kanal ••• › Connectors (oder Kanal verwalten › Connectors), suchen Sie den Connector und wählen Sie Konfigurieren.",
    outside_dev: "Zum Ausprobieren ohne Teams führen Sie `cargo xtask run` aus und öffnen die ausgegebene Emulator-Adresse.",
    load_failed: "Die gespeicherten Einstellungen konnten nicht geladen werden",
    retry: "Erneut versuchen",
    not_found: "Diese Verbindung ist nicht mehr gespeichert; beim Speichern wird sie neu angelegt.",
    saving: "Wird gespeichert…",
    save_failed: "Speichern fehlgeschlagen",
    saved: "Gespeichert.",
    network: "der Server ist nicht erreichbar; bitte Verbindung prüfen und erneut versuchen",
    timed_out: "der Server hat nicht rechtzeitig geantwortet; bitte erneut versuchen",
    server_fault: "beim Server ist ein Fehler aufgetreten; bitte gleich erneut versuchen",
    forbidden: "diese Verbindung gehört zu einem anderen Kanal oder Webhook",
    no_webhook: "Teams hat für diesen Kanal keine Webhook-URL übergeben",
    invalid_form: "einige Felder müssen korrigiert werden",
    removing: "Verbindung wird entfernt…",
    removed: "Die Verbindung wurde entfernt.",
    other_tenant: "diese Verbindung gehört zu einer anderen Organisation; melden Sie sich mit einem Konto dieser Organisation an",
    disabled: "Karten werden nicht zugestellt: der Webhook des Kanals existiert nicht mehr. Speichern aktiviert die Verbindung wieder. Grund",
    send_test: "Testkarte senden",
    test_sending: "Testkarte wird gesendet…",
    test_delivered: "Die Testkarte wurde im Kanal gepostet.",
    test_failed: "Die Testkarte konnte nicht gepostet werden",
    test_pending: "Die Testkarte wartet noch auf die Zustellung",
    sign_in_failed: "die Anmeldung über Teams ist fehlgeschlagen",
    remove_failed: "Die Verbindung konnte nicht entfernt werden",
};

static FR: Strings = Strings {
    loading: "Chargement…",
    outside_title: "Ouvrez cette page depuis Microsoft Teams",
    outside_intro: "Ceci est la page de configuration du connecteur",
    outside_how: "Teams l'affiche quand un canal ajoute ou modifie le connecteur : dans un canal, choisissez ••• › Connecteurs (ou Gérer le canal › Connecteurs), trouvez le connecteur et choisissez Configurer.",
    outside_dev: "Pour l'essayer sans Teams, lancez `cargo xtask run` et ouvrez l'adresse de l'émulateur qui s'affiche.",
    load_failed: "Les paramètres enregistrés n'ont pas pu être chargés",
    retry: "Réessayer",
    not_found: "Cette connexion n'est plus enregistrée ; l'enregistrer la crée à nouveau.",
    saving: "Enregistrement…",
    save_failed: "Échec de l'enregistrement",
    saved: "Enregistré.",
    network: "le serveur est injoignable ; vérifiez la connexion et réessayez",
    timed_out: "le serveur n'a pas répondu à temps ; veuillez réessayer",
    server_fault: "le serveur a rencontré un problème ; réessayez dans un instant",
    forbidden: "cette connexion appartient à un autre canal ou webhook",
    no_webhook: "Teams n'a pas fourni d'URL de webhook pour ce canal",
    invalid_form: "certains champs sont à corriger",
    removing: "Suppression de la connexion…",
    removed: "La connexion a été supprimée.",
    other_tenant: "cette connexion appartient à une autre organisation ; connectez-vous avec un compte de cette organisation",
    disabled: "Les cartes ne sont pas publiées : le webhook du canal n'existe plus. L'enregistrement réactive la connexion. Motif",
    send_test: "Envoyer une carte de test",
    test_sending: "Envoi d'une carte de test…",
    test_delivered: "La carte de test a été publiée dans le canal.",
    test_failed: "La carte de test n'a pas pu être publiée",
    test_pending: "La carte de test attend encore d'être publiée",
    sign_in_failed: "la connexion via Teams a échoué",
    remove_failed: "La connexion n'a pas pu être supprimée",
};

/// The strings for `locale`.
pub fn strings(locale: Locale) -> &'static Strings {
    match locale {
        Locale::En => &EN,
        Locale::De => &DE,
        Locale::Fr => &FR,
    }
}

/// Why an API call failed, in words for the person.
pub fn reason(e: &ApiError, locale: Locale) -> String {
    let s = strings(locale);
    match e {
        ApiError::Network(_) => s.network.to_string(),
        ApiError::TimedOut => s.timed_out.to_string(),
        ApiError::Server { status } => format!("{} (HTTP {status})", s.server_fault),
        ApiError::Refused { status: 403, body } if body.error == "other_tenant" => {
            s.other_tenant.to_string()
        }
        ApiError::Refused { status: 403, .. } => s.forbidden.to_string(),
        ApiError::Refused { status: 401, body } if body.error == "invalid_token" => {
            format!("{}: {}", s.sign_in_failed, body.message)
        }
        ApiError::Refused { body, .. } if !body.fields.is_empty() => {
            let parts: Vec<String> = body
                .fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect();
            parts.join("; ")
        }
        ApiError::Refused { body, .. } => body.message.clone(),
    }
}
