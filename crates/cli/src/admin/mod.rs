//! `partnerhub admin`: the operator's commands (partners, provider links, offers) against a
//! running server over HTTP, so that an operator never needs curl.

mod client;
mod table;

use client::{Client, Failure, fail};
use partnerhub_api_types::{
    CreateOfferRequest, CreatePartnerRequest, CreateProviderLinkRequest, NewAdmin, OfferResponse, OperatorPartnerResponse, PartnerResponse,
    ProviderLinkResponse,
};
use serde_json::Value;
use uuid::Uuid;

#[derive(clap::Args)]
pub struct AdminArgs {
    /// The server's base URL. The operator token is read from PARTNERHUB_OPERATOR_TOKEN.
    #[arg(long, env = "PARTNERHUB_URL", default_value = "http://127.0.0.1:8080", global = true)]
    url: String,
    /// Print the API's JSON instead of a table (lists: every page as one list).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Subcommand)]
enum AdminCommand {
    /// Partner organizations.
    Partners {
        #[command(subcommand)]
        command: PartnerCommand,
    },
    /// Link an indirect reseller to an indirect provider (active at once).
    Link {
        /// The provider: its id (UUID) or its partner id.
        #[arg(long)]
        provider: String,
        /// The reseller: its id (UUID) or its partner id.
        #[arg(long)]
        reseller: String,
    },
    /// The catalog of offers.
    Offers {
        #[command(subcommand)]
        command: OfferCommand,
    },
}

#[derive(clap::Subcommand)]
enum PartnerCommand {
    /// Every partner, by name.
    List,
    /// Enrol a partner with its first global admin. The admin's password is read from
    /// PARTNERHUB_ADMIN_PASSWORD, or generated and printed once.
    Create {
        /// The organization's name.
        #[arg(long)]
        name: String,
        /// What kind of partner it is.
        #[arg(long = "type", value_parser = ["direct", "indirect_provider", "indirect_reseller"])]
        partner_type: String,
        /// The short public id the partner is known by.
        #[arg(long)]
        partner_id: String,
        /// The organization's domain, e.g. fabrikam.example.
        #[arg(long)]
        domain: String,
        /// The sign-in e-mail of its first global admin.
        #[arg(long)]
        admin_email: String,
        /// The display name of its first global admin.
        #[arg(long)]
        admin_name: String,
    },
}

#[derive(clap::Subcommand)]
enum OfferCommand {
    /// Every offer, enabled or not.
    List,
    /// Add an offer, enabled.
    Create {
        /// 1 to 200 characters.
        #[arg(long)]
        name: String,
        /// The unit price in cents (600 is 6.00).
        #[arg(long)]
        price_cents: i64,
        /// ISO 4217, e.g. EUR.
        #[arg(long)]
        currency: String,
    },
    /// Disable an offer: it can no longer be ordered; its subscriptions go on.
    Disable { id: Uuid },
}

/// Runs one admin command; the error is the message to print before exiting 1.
pub async fn run(args: AdminArgs) -> Result<(), Failure> {
    let client = Client::new(&args.url, client::operator_token()?)?;
    let out = Output { json: args.json };
    match args.command {
        AdminCommand::Partners { command: PartnerCommand::List } => {
            let list = client.list_all("/api/v1/operator/partners").await?;
            out.list(&list, PARTNER_COLUMNS, partner_row)
        }
        AdminCommand::Partners { command: PartnerCommand::Create { name, partner_type, partner_id, domain, admin_email, admin_name } } => {
            let (password, generated) = admin_password()?;
            let req = CreatePartnerRequest {
                name,
                partner_type,
                partner_id,
                domain,
                admin: NewAdmin { email: admin_email.clone(), display_name: admin_name, password: password.clone() },
            };
            let created = client.post("/api/v1/operator/partners", &req).await?;
            out.one(&created, &["ID", "NAME", "TYPE", "PARTNER ID", "DOMAIN", "ADMIN USER"], |p: PartnerResponse| {
                vec![p.id.to_string(), p.name, p.partner_type, p.partner_id, p.domain, p.admin_user_id.to_string()]
            })?;
            if generated {
                eprintln!("generated password of {admin_email} (shown this once; set PARTNERHUB_ADMIN_PASSWORD to choose one): {password}");
            }
            Ok(())
        }
        AdminCommand::Link { provider, reseller } => {
            let ids = resolve(&client, &[&provider, &reseller]).await?;
            let req = CreateProviderLinkRequest { provider_id: ids[0], reseller_id: ids[1] };
            let link = client.post("/api/v1/operator/provider-links", &req).await?;
            out.one(&link, &["PROVIDER", "RESELLER", "STATE"], |l: ProviderLinkResponse| {
                vec![l.provider_id.to_string(), l.reseller_id.to_string(), l.state]
            })
        }
        AdminCommand::Offers { command: OfferCommand::List } => {
            let list = client.list_all("/api/v1/operator/offers").await?;
            out.list(&list, OFFER_COLUMNS, offer_row)
        }
        AdminCommand::Offers { command: OfferCommand::Create { name, price_cents, currency } } => {
            let offer =
                client.post("/api/v1/operator/offers", &CreateOfferRequest { name, unit_price_cents: price_cents, currency }).await?;
            out.one(&offer, OFFER_COLUMNS, offer_row)
        }
        AdminCommand::Offers { command: OfferCommand::Disable { id } } => {
            let offer = client.post(&format!("/api/v1/operator/offers/{id}/disable"), &serde_json::json!({})).await?;
            out.one(&offer, OFFER_COLUMNS, offer_row)
        }
    }
}

const PARTNER_COLUMNS: &[&str] = &["ID", "NAME", "TYPE", "PARTNER ID", "DOMAIN", "CREATED"];
const OFFER_COLUMNS: &[&str] = &["ID", "NAME", "PRICE", "ACTIVE", "CREATED"];

fn partner_row(p: OperatorPartnerResponse) -> Vec<String> {
    vec![p.id.to_string(), p.name, p.partner_type, p.partner_id, p.domain, date(p.created_at)]
}

fn offer_row(o: OfferResponse) -> Vec<String> {
    let active = if o.active { "yes" } else { "no" };
    vec![o.id.to_string(), o.name, table::price(o.unit_price_cents, &o.currency), active.to_owned(), date(o.created_at)]
}

/// To the minute, in UTC: a table is for reading (`--json` has the exact time).
fn date(t: time::OffsetDateTime) -> String {
    let utc = t.to_offset(time::UtcOffset::UTC);
    utc.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).unwrap_or_default()
}

/// How an answer is printed: the API's JSON, or an aligned table.
struct Output {
    json: bool,
}

impl Output {
    fn one<T: serde::de::DeserializeOwned>(&self, v: &Value, header: &[&str], row: impl Fn(T) -> Vec<String>) -> Result<(), Failure> {
        self.print(v, header, vec![v.clone()], row)
    }

    fn list<T: serde::de::DeserializeOwned>(&self, v: &Value, header: &[&str], row: impl Fn(T) -> Vec<String>) -> Result<(), Failure> {
        let items = v.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        self.print(v, header, items, row)
    }

    fn print<T: serde::de::DeserializeOwned>(
        &self,
        v: &Value,
        header: &[&str],
        items: Vec<Value>,
        row: impl Fn(T) -> Vec<String>,
    ) -> Result<(), Failure> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
            return Ok(());
        }
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
            let parsed =
                serde_json::from_value::<T>(item).map_err(|e| Failure(format!("error: unexpected answer from the server: {e}")))?;
            rows.push(row(parsed));
        }
        print!("{}", table::render(header, &rows));
        Ok(())
    }
}

/// Each of `ids` as a partner's UUID: a UUID as it is, anything else as a partner id looked
/// up in the list of partners (fetched once, only when needed).
async fn resolve(client: &Client, ids: &[&str]) -> Result<Vec<Uuid>, Failure> {
    let mut partners: Option<Vec<OperatorPartnerResponse>> = None;
    let mut out = Vec::new();
    for id in ids {
        if let Ok(u) = Uuid::parse_str(id) {
            out.push(u);
            continue;
        }
        if partners.is_none() {
            let list = client.list_all("/api/v1/operator/partners").await?;
            let items = list.get("items").cloned().unwrap_or(Value::Null);
            partners = Some(serde_json::from_value(items).map_err(|e| Failure(format!("error: unexpected answer from the server: {e}")))?);
        }
        match partners.iter().flatten().find(|p| p.partner_id == *id) {
            Some(p) => out.push(p.id),
            None => return fail(format!("error: no partner has the partner id '{id}' (`partnerhub admin partners list` shows them)")),
        }
    }
    Ok(out)
}

/// The new admin's password: PARTNERHUB_ADMIN_PASSWORD when set, else 128 random bits
/// (`true`: generated, to be printed once).
fn admin_password() -> Result<(String, bool), Failure> {
    if let Ok(p) = std::env::var("PARTNERHUB_ADMIN_PASSWORD")
        && !p.is_empty()
    {
        return Ok((p, false));
    }
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| Failure(format!("error: no randomness: {e}")))?;
    // Groups of eight hex digits are easier to read out and type than one run of 32.
    let groups: Vec<String> = b.chunks(4).map(|g| g.iter().map(|x| format!("{x:02x}")).collect()).collect();
    Ok((groups.join("-"), true))
}
