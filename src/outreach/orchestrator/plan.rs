//! Planning a run: which leads have a step due now (in their send window, under the caps), and
//! that step rendered, as emails to send and texts to queue.

use chrono_tz::Tz;

use super::{eligible, note, sent_on, Run, RunReport};
use crate::error::{Error, Result};
use crate::lead::Lead;
use crate::outreach::store::{LeadState, StateStore, Status};
use crate::outreach::window;

/// A WhatsApp/SMS step rendered for one lead, queued for the WhatsAppAgent after the emails.
pub(super) struct Text {
    pub(super) key: String,
    pub(super) to: Option<String>,
    pub(super) step: u32,
    pub(super) template: String,
    /// The SMS text (Twilio).
    pub(super) text: String,
    /// The template's parameters (WhatsApp Cloud API).
    pub(super) params: Vec<crate::outreach::sequence::Param>,
    /// The parameter that came out empty: the step is not sent.
    pub(super) empty: Option<String>,
}

/// An email step due for one lead, rendered: what the send step needs.
pub(super) struct Email {
    pub(super) key: String,
    pub(super) address: String,
    pub(super) name: String,
    pub(super) step: u32,
    pub(super) rendered: crate::outreach::sequence::Rendered,
    pub(super) unsubscribe: String,
    pub(super) one_click: Option<String>,
    /// The lead's time zone: the send window is checked again right before the claim.
    pub(super) tz: chrono_tz::Tz,
}

/// What one run found due: emails to send, texts to queue.
#[derive(Default)]
pub(super) struct Plan {
    pub(super) emails: Vec<Email>,
    pub(super) texts: Vec<Text>,
}

/// The links a step's message carries for one lead.
struct Links {
    /// Where the footer's "unsubscribe" points (a page, or a mailto).
    unsubscribe: String,
    /// RFC 8058 one-click unsubscribe, when there is an address for it.
    one_click: Option<String>,
}

impl Run<'_> {
    /// Due steps out: every lead whose next step is due, inside its send window and under the
    /// caps, rendered. A template error stops the run here, before anything is sent.
    pub(super) fn due(
        &self,
        store: &mut dyn StateStore,
        templates: &mut crate::outreach::whatsapp::Templates,
        report: &mut RunReport,
    ) -> Result<Plan> {
        let o = &self.config.outreach;
        let sent_today = sent_on(store, self.rules.now.date_naive());
        // With `listen` public, List-Unsubscribe points to it with a signed token.
        let listen_secret = match &o.listen.public_url {
            Some(_) => Some(crate::outreach::listen::secret()?),
            None => None,
        };
        let api = crate::web::api_client();
        let mut plan = Plan::default();
        for (key, lead) in self.order(store) {
            let Some((step, tz)) = self.next_step(store, key, lead, report)? else {
                continue;
            };
            let planned = plan.emails.len() + plan.texts.len();
            if planned >= o.run_cap || sent_today + planned >= o.daily_cap {
                report.capped = true;
                break;
            }
            let links = self.links(key, listen_secret.as_deref());
            let ctx = self.context(key, lead, &links);
            if self.sequence.steps[step as usize - 1].channel == "whatsapp" {
                let text = self.text(key, lead, step, &ctx, templates, &api)?;
                match text {
                    Ok(text) => plan.texts.push(text),
                    Err(halted) => report.whatsapp_halted = Some(halted),
                }
                continue;
            }
            plan.emails
                .push(self.email(key, lead, step, tz, &ctx, links)?);
        }
        Ok(plan)
    }

    /// The eligible leads in the order this run goes through them. Workers sharing a database
    /// each start at another lead (from their run id), so that together they get through more
    /// than one worker's run cap instead of all claiming the same first leads.
    fn order(&self, store: &dyn StateStore) -> Vec<(&String, &Lead)> {
        let mut order: Vec<(&String, &Lead)> = self
            .leads
            .iter()
            .map(|(k, l)| (k, &**l))
            .filter(|(_, l)| eligible(l))
            .collect();
        if self.shared && !order.is_empty() {
            let at = crate::fsutil::fingerprint(store.run().as_bytes())
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
            let n = order.len();
            order.rotate_left(at % n);
        }
        order
    }

    /// The step due for one lead now, with the lead's time zone; `None` when nothing is due
    /// (in flight, finished, suppressed, not yet time, outside the send window). What it learns
    /// on the way (suppressed, no response after the last step, when the window opens) is
    /// committed; a commit another worker got to first leaves this lead to that worker.
    fn next_step(
        &self,
        store: &mut dyn StateStore,
        key: &str,
        lead: &Lead,
        report: &mut RunReport,
    ) -> Result<Option<(u32, Tz)>> {
        let o = &self.config.outreach;
        let now = self.rules.now;
        let mut state = store.get(key).cloned().unwrap_or_default();
        if let Some(intent) = &state.in_flight {
            // Another worker's claim, still under its lease, is being sent; any other
            // intent is in doubt.
            if !store.held_elsewhere(&intent.run) {
                report.in_doubt.push(key.to_string());
            }
            return Ok(None);
        }
        if state.status.is_terminal() {
            return Ok(None);
        }
        let settle = |store: &mut dyn StateStore, state: LeadState| match store.commit(key, state) {
            Err(Error::Conflict(_)) => Ok(()),
            other => other,
        };
        let address = lead.contact_email().unwrap_or_default();
        if store.is_suppressed(address) {
            state.status = Status::Unsubscribed;
            note(&mut state, now, "suppressed", address.to_string());
            settle(store, state)?;
            return Ok(None);
        }
        let due = match (state.status, state.next_action_at) {
            (Status::New, None) => true,
            (_, Some(at)) => at <= now,
            _ => false,
        };
        if !due {
            return Ok(None);
        }
        if state.step as usize >= self.sequence.steps.len() {
            state.status = Status::NoResponse;
            let detail = format!("after step {}", state.step);
            note(&mut state, now, "no_response", detail);
            settle(store, state)?;
            report.completed += 1;
            return Ok(None);
        }
        let tz = window::zone(lead.timezone.as_deref(), &o.window);
        if let Some(open) = window::next_open(now, tz, &o.window) {
            if state.next_action_at != Some(open) {
                state.next_action_at = Some(open);
                settle(store, state)?;
            }
            report.waiting_for_window += 1;
            return Ok(None);
        }
        Ok(Some((state.step + 1, tz)))
    }

    fn links(&self, key: &str, listen_secret: Option<&[u8]>) -> Links {
        let o = &self.config.outreach;
        let unsubscribe = o
            .unsubscribe_url
            .clone()
            .map(|u| u.replace("{lead}", key))
            .unwrap_or_else(|| format!("mailto:{}?subject=unsubscribe%20{key}", o.sender_email));
        let one_click = match (&o.listen.public_url, listen_secret) {
            (Some(public), Some(secret)) => Some(format!(
                "{}/u/{}",
                public.trim_end_matches('/'),
                crate::outreach::listen::token(secret, key, &self.sequence.name)
            )),
            _ => o.one_click_url.as_ref().map(|u| u.replace("{lead}", key)),
        };
        Links {
            unsubscribe,
            one_click,
        }
    }

    /// What a step's template sees: the business, the lead, its landing page, the sender and
    /// the unsubscribe link.
    fn context(&self, key: &str, lead: &Lead, links: &Links) -> tera::Context {
        let o = &self.config.outreach;
        let mut ctx = tera::Context::new();
        ctx.insert(
            "business",
            &serde_json::json!({
                "name": lead.name.trim(), "city": lead.city(), "category": lead.category,
            }),
        );
        ctx.insert("lead", lead);
        let landing = self
            .pages
            .get(key)
            .cloned()
            .unwrap_or_else(|| format!("{}{key}/", self.config.base_url()));
        ctx.insert("landing_url", &landing);
        ctx.insert(
            "sender",
            &serde_json::json!({"name": o.sender_name, "email": o.sender_email, "postal_address": o.postal_address}),
        );
        ctx.insert("unsubscribe_url", &links.unsubscribe);
        ctx
    }

    /// A WhatsApp/SMS step rendered for the WhatsAppAgent; `Ok(Err(why))` when the template as
    /// the WhatsApp Business Account has it does not fit: the step is not queued and waits for
    /// the fix. A template error stops the run.
    fn text(
        &self,
        key: &str,
        lead: &Lead,
        step: u32,
        ctx: &tera::Context,
        templates: &mut crate::outreach::whatsapp::Templates,
        api: &ureq::Agent,
    ) -> Result<std::result::Result<Text, String>> {
        let o = &self.config.outreach;
        let sequence = self.sequence;
        let spec = &sequence.steps[step as usize - 1];
        // A text message gets a text message's footer: who sends it and how to stop them (the
        // carriers' STOP, which Twilio turns into error 21610 and leadsite into an opt-out).
        let sms_footer = format!("{} - Reply STOP to opt out", o.sender_name);
        let rendered = sequence.render(
            step,
            ctx,
            &sms_footer,
            &crate::text::escape_html(&sms_footer),
        )?;
        // The template's parameters, checked before anything is sent: a template error stops
        // the run; a parameter empty for this lead stops this lead's step (Meta refuses the
        // message).
        let params = sequence.render_params(step, ctx)?;
        let empty = (o.whatsapp.provider == crate::config::WhatsAppProvider::Cloud)
            .then(|| crate::outreach::sequence::empty_param(&params))
            .flatten();
        let cloud = crate::outreach::whatsapp::cloud_parameters(
            &serde_json::to_value(&params).expect("parameters serialize"),
        );
        if let Some(why) = templates.refusal(api, &o.whatsapp, &spec.template, &cloud) {
            return Ok(Err(format!(
                "{why} (step {step} of {} is not queued until it fits)",
                sequence.name
            )));
        }
        Ok(Ok(Text {
            key: key.to_string(),
            // E.164, as the providers want it and as replies come back from it; a phone that
            // cannot be read as a number is no phone.
            to: lead.phone.as_deref().and_then(|p| {
                let region = lead.country().unwrap_or(&self.config.ingest.default_region);
                crate::lead::value::phone_e164(p, region)
            }),
            step,
            template: spec.template.clone(),
            text: rendered.text,
            params,
            empty,
        }))
    }

    /// An email step rendered, with the sender's footer.
    fn email(
        &self,
        key: &str,
        lead: &Lead,
        step: u32,
        tz: Tz,
        ctx: &tera::Context,
        links: Links,
    ) -> Result<Email> {
        let o = &self.config.outreach;
        let footer_text = format!(
            "{}\n{}\nTo get no more messages: {}",
            o.sender_name, o.postal_address, links.unsubscribe
        );
        let footer_html = format!(
            "{}<br>{}<br><a href=\"{}\">Unsubscribe</a>",
            crate::text::escape_html(&o.sender_name),
            crate::text::escape_html(&o.postal_address),
            crate::text::escape_html(&links.unsubscribe)
        );
        let rendered = self
            .sequence
            .render(step, ctx, &footer_text, &footer_html)?;
        Ok(Email {
            key: key.to_string(),
            address: lead.contact_email().unwrap_or_default().to_string(),
            name: lead.name.trim().to_string(),
            step,
            rendered,
            unsubscribe: links.unsubscribe,
            one_click: links.one_click,
            tz,
        })
    }
}
