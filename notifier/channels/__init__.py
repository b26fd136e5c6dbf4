"""The ways of reaching a person: e-mail over SMTP, SMS over Twilio, and the console for demos."""
