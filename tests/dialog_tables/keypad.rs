//! Conversation cases for `tests/dialog_conversations.rs`: the keys that work at every question
//! (`0` a person, `*` the question again) keep the caller's language; same builders and seed.

use super::*;

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "kp1 es: 0 is the office calling back in Spanish",
            Some(NEW),
            &["hola", "dtmf:0"],
        )
        .expect("callback", &["callback"])
        .says(&[
            "[speaks es]",
            "Para dejar un mensaje, oprima 3.",
            "No hay nadie en la oficina ahora.",
            "la oficina le llamará a primera hora",
            "Gracias por llamar. Adiós.",
        ])
        .never(&[
            "There's no one in the office",
            "Thanks for calling. Goodbye",
        ])
        .field("/kind", "callback")
        .field("/reason", "Spanish-speaking caller (call back in Spanish)")
        .field("/caller/phone_e164", NEW),
        case(
            "kp2 es: * says the Spanish menu again, then 3 for a message",
            Some(NEW),
            &["hola", "dtmf:*", "dtmf:3", "necesito servicio", "dtmf:#"],
        )
        .expect("voicemail", &["voicemail"])
        .says(&[
            "[speaks es]",
            "Para dejar un mensaje, oprima 3.",
            "Para dejar un mensaje, oprima 3.",
            "Su mensaje quedó guardado",
        ])
        .never(&["Sorry, I didn't catch that"])
        .field(
            "/transcript",
            "[Spanish-speaking caller: listen to the recording]",
        ),
    ]
}
