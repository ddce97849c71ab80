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
    pub other_team: &'static str,
    pub other_tenant_webhook: &'static str,
    pub webhook_label: &'static str,
    pub webhook_help: &'static str,
    pub webhook_help_2: &'static str,
    pub webhook_stored: &'static str,
    pub webhook_replace: &'static str,
    pub webhook_keep: &'static str,
    pub webhook_empty: &'static str,
    pub webhook_not_https: &'static str,
    pub webhook_retired: &'static str,
    pub webhook_not_workflows: &'static str,
    pub webhook_partial: &'static str,
    pub webhook_retired_workflows: &'static str,
    pub webhook_needs_sign_in: &'static str,
    pub tab_no_key: &'static str,
    pub deliveries: &'static str,
    pub delivered: &'static str,
    pub waiting: &'static str,
    pub failed: &'static str,
    pub last_error: &'static str,
    pub change_settings: &'static str,
    pub refresh: &'static str,
    pub on: &'static str,
    pub off: &'static str,
}

static EN: Strings = Strings {
    loading: "Loading…",
    outside_title: "Open this page from Microsoft Teams",
    outside_intro: "This is the configuration page of",
    outside_how: "Teams shows it when a channel adds the app as a tab: in a channel, choose + (Add a tab), find the app, and paste a Workflows webhook URL. Where Office 365 connectors still run, it also configures the connector.",
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
    forbidden: "this connection belongs to another webhook: Teams gave this page a webhook URL the connection was not saved with, and nothing proves it is yours. Remove it from the channel and add it again",
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
    other_team: "this webhook URL posts to another team's channel, and a connection only posts to the team it was added in. Nothing was changed. Create the webhook in a channel of this team, or add the app in the other team",
    other_tenant_webhook: "this webhook URL belongs to another organisation. Nothing was changed. Create the webhook in a channel of this organisation",
    webhook_label: "Workflows webhook URL",
    webhook_help: "In Teams, open the channel's ••• menu › Workflows and choose “Send webhook alerts to a channel”.",
    webhook_help_2: "Copy the URL the workflow shows and paste it here. It works like a password: it is stored encrypted and never shown again.",
    webhook_stored: "A webhook URL is stored. It is not shown, as it works like a password.",
    webhook_replace: "Replace",
    webhook_keep: "Keep the stored URL",
    webhook_empty: "Paste the webhook URL of a Workflows workflow.",
    webhook_not_https: "The URL must start with https://.",
    webhook_retired: "This is an Office 365 connector webhook, which Microsoft retired. Create a Workflows webhook instead.",
    webhook_not_workflows: "This is not a Workflows URL: those are on api.powerplatform.com.",
    webhook_partial: "This is only part of a Workflows URL: copy all of it, up to its very end.",
    webhook_retired_workflows: "This Workflows address stopped working in November 2025: open the workflow's trigger and copy its new URL.",
    webhook_needs_sign_in: "This workflow only accepts signed-in callers (its URL has no sig=…). Open the workflow's trigger, set “Who can trigger the flow” to “Anyone”, and copy the URL again.",
    tab_no_key: "This tab's saved settings carry no edit key, so its connection cannot be found. Remove the tab and add it again",
    deliveries: "Deliveries",
    delivered: "Delivered",
    waiting: "Waiting",
    failed: "Failed",
    last_error: "Last error",
    change_settings: "To change these settings, open the menu beside the tab's name and choose Settings.",
    refresh: "Refresh",
    on: "On",
    off: "Off",
};

static DE: Strings = Strings {
    loading: "Wird geladen…",
    outside_title: "Öffnen Sie diese Seite aus Microsoft Teams",
    outside_intro: "Dies ist die Konfigurationsseite von",
    outside_how: "Teams zeigt sie an, wenn ein Kanal die App als Registerkarte hinzufügt: Wählen Sie im Kanal + (Registerkarte hinzufügen), suchen Sie die App und fügen Sie eine Workflows-Webhook-URL ein. Wo Office 365-Connectors noch laufen, konfiguriert sie auch den Connector.",
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
    forbidden: "diese Verbindung gehört zu einem anderen Webhook: Teams hat dieser Seite eine Webhook-URL übergeben, mit der die Verbindung nicht gespeichert wurde, und nichts belegt, dass sie Ihnen gehört. Entfernen Sie sie aus dem Kanal und fügen Sie sie neu hinzu",
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
    other_team: "diese Webhook-URL postet in den Kanal eines anderen Teams, und eine Verbindung postet nur in das Team, in dem sie hinzugefügt wurde. Nichts wurde geändert. Erstellen Sie den Webhook in einem Kanal dieses Teams oder fügen Sie die App im anderen Team hinzu",
    other_tenant_webhook: "diese Webhook-URL gehört zu einer anderen Organisation. Nichts wurde geändert. Erstellen Sie den Webhook in einem Kanal dieser Organisation",
    webhook_label: "Workflows-Webhook-URL",
    webhook_help: "Öffnen Sie in Teams das Menü ••• des Kanals › Workflows und wählen Sie „Send webhook alerts to a channel“.",
    webhook_help_2: "Kopieren Sie die URL, die der Workflow anzeigt, und fügen Sie sie hier ein. Sie wirkt wie ein Passwort: Sie wird verschlüsselt gespeichert und nie wieder angezeigt.",
    webhook_stored: "Eine Webhook-URL ist gespeichert. Sie wird nicht angezeigt, da sie wie ein Passwort wirkt.",
    webhook_replace: "Ersetzen",
    webhook_keep: "Gespeicherte URL behalten",
    webhook_empty: "Fügen Sie die Webhook-URL eines Workflows ein.",
    webhook_not_https: "Die URL muss mit https:// beginnen.",
    webhook_retired: "Dies ist ein Webhook eines Office 365-Connectors; Microsoft hat diese eingestellt. Erstellen Sie stattdessen einen Workflows-Webhook.",
    webhook_not_workflows: "Dies ist keine Workflows-URL: Diese liegen unter api.powerplatform.com.",
    webhook_partial: "Dies ist nur ein Teil einer Workflows-URL: Kopieren Sie sie vollständig, bis zu ihrem Ende.",
    webhook_retired_workflows: "Diese Workflows-Adresse funktioniert seit November 2025 nicht mehr: Öffnen Sie den Trigger des Workflows und kopieren Sie seine neue URL.",
    webhook_needs_sign_in: "Dieser Workflow nimmt nur angemeldete Aufrufer an (seine URL enthält kein sig=…). Öffnen Sie den Trigger des Workflows, stellen Sie „Wer kann den Flow auslösen“ auf „Jeder“ und kopieren Sie die URL erneut.",
    tab_no_key: "Die gespeicherten Einstellungen dieser Registerkarte enthalten keinen Bearbeitungsschlüssel, daher ist ihre Verbindung nicht auffindbar. Entfernen Sie die Registerkarte und fügen Sie sie neu hinzu",
    deliveries: "Zustellungen",
    delivered: "Zugestellt",
    waiting: "Wartend",
    failed: "Fehlgeschlagen",
    last_error: "Letzter Fehler",
    change_settings: "Um diese Einstellungen zu ändern, öffnen Sie das Menü neben dem Namen der Registerkarte und wählen Sie Einstellungen.",
    refresh: "Aktualisieren",
    on: "Ein",
    off: "Aus",
};

static FR: Strings = Strings {
    loading: "Chargement…",
    outside_title: "Ouvrez cette page depuis Microsoft Teams",
    outside_intro: "Ceci est la page de configuration de",
    outside_how: "Teams l'affiche quand un canal ajoute l'application comme onglet : dans un canal, choisissez + (Ajouter un onglet), trouvez l'application et collez une URL de webhook Workflows. Là où les connecteurs Office 365 fonctionnent encore, elle configure aussi le connecteur.",
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
    forbidden: "cette connexion appartient à un autre webhook : Teams a donné à cette page une URL de webhook avec laquelle la connexion n'a pas été enregistrée, et rien ne prouve qu'elle est la vôtre. Retirez-la du canal et ajoutez-la à nouveau",
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
    other_team: "cette URL de webhook publie dans le canal d'une autre équipe, et une connexion ne publie que dans l'équipe où elle a été ajoutée. Rien n'a été modifié. Créez le webhook dans un canal de cette équipe, ou ajoutez l'application dans l'autre équipe",
    other_tenant_webhook: "cette URL de webhook appartient à une autre organisation. Rien n'a été modifié. Créez le webhook dans un canal de cette organisation",
    webhook_label: "URL du webhook Workflows",
    webhook_help: "Dans Teams, ouvrez le menu ••• du canal › Workflows et choisissez « Send webhook alerts to a channel ».",
    webhook_help_2: "Copiez l'URL affichée par le workflow et collez-la ici. Elle vaut un mot de passe : elle est stockée chiffrée et n'est plus jamais affichée.",
    webhook_stored: "Une URL de webhook est enregistrée. Elle n'est pas affichée, car elle vaut un mot de passe.",
    webhook_replace: "Remplacer",
    webhook_keep: "Garder l'URL enregistrée",
    webhook_empty: "Collez l'URL de webhook d'un workflow Workflows.",
    webhook_not_https: "L'URL doit commencer par https://.",
    webhook_retired: "Ceci est un webhook de connecteur Office 365, que Microsoft a retirés. Créez plutôt un webhook Workflows.",
    webhook_not_workflows: "Ceci n'est pas une URL Workflows : celles-ci sont sur api.powerplatform.com.",
    webhook_partial: "Ceci n'est qu'une partie d'une URL Workflows : copiez-la en entier, jusqu'à sa fin.",
    webhook_retired_workflows: "Cette adresse Workflows ne fonctionne plus depuis novembre 2025 : ouvrez le déclencheur du workflow et copiez sa nouvelle URL.",
    webhook_needs_sign_in: "Ce workflow n'accepte que des appelants connectés (son URL n'a pas de sig=…). Ouvrez le déclencheur du workflow, réglez « Qui peut déclencher le flux » sur « Tout le monde » et copiez à nouveau l'URL.",
    tab_no_key: "Les paramètres enregistrés de cet onglet ne contiennent pas de clé de modification, sa connexion est donc introuvable. Retirez l'onglet et ajoutez-le à nouveau",
    deliveries: "Publications",
    delivered: "Publiées",
    waiting: "En attente",
    failed: "Échouées",
    last_error: "Dernière erreur",
    change_settings: "Pour modifier ces paramètres, ouvrez le menu à côté du nom de l'onglet et choisissez Paramètres.",
    refresh: "Actualiser",
    on: "Oui",
    off: "Non",
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
        ApiError::Refused { status: 403, body } if body.error == "webhook_other_team" => {
            s.other_team.to_string()
        }
        ApiError::Refused { status: 403, body } if body.error == "webhook_other_tenant" => {
            s.other_tenant_webhook.to_string()
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
