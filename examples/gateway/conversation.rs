//! A conversation in no API's shape, read from and written to each API's
//! request: system prompt, user and assistant turns, the assistant's tool
//! calls and the tool results the client hands back.

use serde_json::{json, Value};

/// One turn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Turn {
    /// The user's text.
    User(String),
    /// The assistant's text and the tools it called.
    Assistant { text: String, calls: Vec<Call> },
    /// The result of a tool call, handed back by the client.
    ToolResult { call_id: String, output: String },
}

/// A tool call of an earlier answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The arguments, as JSON text.
    pub(crate) arguments: String,
}

/// The system prompt and the turns of a request.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Conversation {
    pub(crate) system: Option<String>,
    pub(crate) turns: Vec<Turn>,
}

impl Conversation {
    fn system(&mut self, text: String) {
        if !text.is_empty() {
            self.system = Some(match self.system.take() {
                Some(system) => format!("{system}\n\n{text}"),
                None => text,
            });
        }
    }

    fn user(&mut self, text: String) {
        if !text.is_empty() {
            self.turns.push(Turn::User(text));
        }
    }

    /// Adds to the last assistant turn, or starts one.
    fn assistant(&mut self, text: String, calls: Vec<Call>) {
        if let Some(Turn::Assistant {
            text: last,
            calls: last_calls,
        }) = self.turns.last_mut()
        {
            last.push_str(&text);
            last_calls.extend(calls);
        } else if !text.is_empty() || !calls.is_empty() {
            self.turns.push(Turn::Assistant { text, calls });
        }
    }

    fn tool_result(&mut self, call_id: String, output: String) {
        self.turns.push(Turn::ToolResult { call_id, output });
    }

    /// An OpenAI Chat Completions `messages` list.
    pub(crate) fn from_chat(messages: &[Value]) -> Self {
        let mut conversation = Conversation::default();
        for message in messages {
            let content = message.get("content").map(text_of).unwrap_or_default();
            match role(message) {
                "system" | "developer" => conversation.system(content),
                "assistant" => {
                    let calls = array(message, "tool_calls")
                        .map(|call| {
                            let function = call.get("function").unwrap_or(call);
                            Call {
                                id: string(call, "id"),
                                name: string(function, "name"),
                                arguments: string(function, "arguments"),
                            }
                        })
                        .collect();
                    conversation.assistant(content, calls);
                }
                "tool" => conversation.tool_result(string(message, "tool_call_id"), content),
                _ => conversation.user(content),
            }
        }
        conversation
    }

    /// An OpenAI Responses `input` (a string or a list of items) and
    /// `instructions`.
    pub(crate) fn from_responses(input: Option<&Value>, instructions: Option<&Value>) -> Self {
        let mut conversation = Conversation::default();
        if let Some(instructions) = instructions {
            conversation.system(text_of(instructions));
        }
        let items = match input {
            Some(Value::String(text)) => {
                conversation.user(text.clone());
                &[][..]
            }
            Some(Value::Array(items)) => items,
            _ => &[][..],
        };
        for item in items {
            match item.get("type").and_then(Value::as_str) {
                Some("function_call") => conversation.assistant(
                    String::new(),
                    vec![Call {
                        id: string(item, "call_id"),
                        name: string(item, "name"),
                        arguments: string(item, "arguments"),
                    }],
                ),
                Some("function_call_output") => conversation.tool_result(
                    string(item, "call_id"),
                    item.get("output").map(text_of).unwrap_or_default(),
                ),
                // A message, typed or not.
                _ => {
                    let content = item.get("content").map(text_of).unwrap_or_default();
                    match role(item) {
                        "system" | "developer" => conversation.system(content),
                        "assistant" => conversation.assistant(content, Vec::new()),
                        _ => conversation.user(content),
                    }
                }
            }
        }
        conversation
    }

    /// An Anthropic Messages `messages` list and `system`.
    pub(crate) fn from_anthropic(messages: &[Value], system: Option<&Value>) -> Self {
        let mut conversation = Conversation::default();
        if let Some(system) = system {
            conversation.system(text_of(system));
        }
        for message in messages {
            let assistant = role(message) == "assistant";
            let blocks = match message.get("content") {
                Some(Value::String(text)) => vec![json!({"type": "text", "text": text})],
                Some(Value::Array(blocks)) => blocks.clone(),
                _ => Vec::new(),
            };
            let (mut text, mut calls) = (String::new(), Vec::new());
            for block in &blocks {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => text.push_str(&string(block, "text")),
                    Some("tool_use") if assistant => calls.push(Call {
                        id: string(block, "id"),
                        name: string(block, "name"),
                        arguments: block.get("input").unwrap_or(&json!({})).to_string(),
                    }),
                    Some("tool_result") => {
                        conversation.user(std::mem::take(&mut text));
                        conversation.tool_result(
                            string(block, "tool_use_id"),
                            block.get("content").map(text_of).unwrap_or_default(),
                        );
                    }
                    _ => {}
                }
            }
            if assistant {
                conversation.assistant(text, calls);
            } else {
                conversation.user(text);
            }
        }
        conversation
    }

    /// The Vercel AI SDK's UI messages: text parts, and tool parts
    /// (`tool-NAME` or `dynamic-tool`) with their input and, once run,
    /// their output.
    pub(crate) fn from_ui(messages: &[Value]) -> Self {
        let mut conversation = Conversation::default();
        for message in messages {
            let (mut text, mut calls, mut results) = (String::new(), Vec::new(), Vec::new());
            for part in array(message, "parts") {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
                let tool = match kind.strip_prefix("tool-") {
                    Some(name) => Some(name.to_owned()),
                    None if kind == "dynamic-tool" => Some(string(part, "toolName")),
                    None => None,
                };
                match tool {
                    Some(name) => {
                        let id = string(part, "toolCallId");
                        let input = part.get("input").unwrap_or(&json!({})).to_string();
                        if let Some(output) = part.get("output") {
                            results.push((id.clone(), text_of(output)));
                        }
                        calls.push(Call {
                            id,
                            name,
                            arguments: input,
                        });
                    }
                    None if kind == "text" => text.push_str(&string(part, "text")),
                    None => {}
                }
            }
            match role(message) {
                "system" => conversation.system(text),
                "assistant" => {
                    conversation.assistant(text, calls);
                    for (id, output) in results {
                        conversation.tool_result(id, output);
                    }
                }
                _ => conversation.user(text),
            }
        }
        conversation
    }

    /// OpenAI Chat Completions `messages`.
    pub(crate) fn to_chat(&self) -> Vec<Value> {
        let mut messages = Vec::new();
        if let Some(system) = &self.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        for turn in &self.turns {
            messages.push(match turn {
                Turn::User(text) => json!({"role": "user", "content": text}),
                Turn::Assistant { text, calls } => {
                    let mut message = json!({"role": "assistant", "content": text});
                    if !calls.is_empty() {
                        message["tool_calls"] = calls
                            .iter()
                            .map(|call| {
                                json!({"id": call.id, "type": "function",
                                    "function": {"name": call.name, "arguments": call.arguments}})
                            })
                            .collect();
                    }
                    message
                }
                Turn::ToolResult { call_id, output } => {
                    json!({"role": "tool", "tool_call_id": call_id, "content": output})
                }
            });
        }
        messages
    }

    /// OpenAI Responses `input` items (the system prompt goes in
    /// `instructions`).
    pub(crate) fn to_responses(&self) -> Vec<Value> {
        let mut items = Vec::new();
        for turn in &self.turns {
            match turn {
                Turn::User(text) => items.push(json!({"role": "user", "content": text})),
                Turn::Assistant { text, calls } => {
                    if !text.is_empty() {
                        items.push(json!({"role": "assistant", "content": text}));
                    }
                    items.extend(calls.iter().map(|call| {
                        json!({"type": "function_call", "call_id": call.id,
                            "name": call.name, "arguments": call.arguments})
                    }));
                }
                Turn::ToolResult { call_id, output } => items.push(
                    json!({"type": "function_call_output", "call_id": call_id, "output": output}),
                ),
            }
        }
        items
    }

    /// Anthropic `messages` (the system prompt goes in `system`): user and
    /// assistant alternate, tool results are user blocks, tool calls are
    /// `tool_use` blocks.
    pub(crate) fn to_anthropic(&self) -> Vec<Value> {
        let mut messages: Vec<Value> = Vec::new();
        for turn in &self.turns {
            let (role, blocks) = match turn {
                Turn::User(text) => ("user", vec![json!({"type": "text", "text": text})]),
                Turn::ToolResult { call_id, output } => (
                    "user",
                    vec![json!({"type": "tool_result", "tool_use_id": call_id, "content": output})],
                ),
                Turn::Assistant { text, calls } => {
                    let text = (!text.is_empty()).then(|| json!({"type": "text", "text": text}));
                    let uses = calls.iter().map(|call| {
                        // Arguments that are not a JSON object (a model's
                        // cut-off call) become an empty input.
                        let input = serde_json::from_str::<Value>(&call.arguments)
                            .ok()
                            .filter(Value::is_object)
                            .unwrap_or_else(|| json!({}));
                        json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input})
                    });
                    ("assistant", text.into_iter().chain(uses).collect())
                }
            };
            match messages.last_mut() {
                Some(last) if last["role"] == role => {
                    if let Some(content) = last["content"].as_array_mut() {
                        content.extend(blocks);
                    }
                }
                _ => messages.push(json!({"role": role, "content": blocks})),
            }
        }
        messages
    }
}

fn role(message: &Value) -> &str {
    message
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("user")
}

fn string(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The text of a content value: a string, the `text` of its parts, or any
/// other JSON as its text.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user question, a tool call and its result, in the shape of each
    /// API; every reading gives the same conversation.
    fn expected() -> Conversation {
        Conversation {
            system: Some("Be brief.".into()),
            turns: vec![
                Turn::User("Weather in Paris?".into()),
                Turn::Assistant {
                    text: "Checking.".into(),
                    calls: vec![Call {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    }],
                },
                Turn::ToolResult {
                    call_id: "call_1".into(),
                    output: "18 C".into(),
                },
            ],
        }
    }

    #[test]
    fn every_api_reads_the_same_conversation() {
        let chat = json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [{"id": "call_1",
                "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
        ]);
        assert_eq!(
            Conversation::from_chat(chat.as_array().unwrap()),
            expected()
        );

        let input = json!([
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18 C"},
        ]);
        let responses = Conversation::from_responses(Some(&input), Some(&json!("Be brief.")));
        assert_eq!(responses, expected());

        let messages = json!([
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "18 C"}]},
        ]);
        let anthropic =
            Conversation::from_anthropic(messages.as_array().unwrap(), Some(&json!("Be brief.")));
        assert_eq!(anthropic, expected());

        let ui = json!([
            {"id": "s", "role": "system", "parts": [{"type": "text", "text": "Be brief."}]},
            {"id": "1", "role": "user", "parts": [{"type": "text", "text": "Weather in Paris?"}]},
            {"id": "2", "role": "assistant", "parts": [{"type": "step-start"}, {"type": "text", "text": "Checking."},
                {"type": "tool-get_weather", "toolCallId": "call_1", "state": "output-available",
                 "input": {"city": "Paris"}, "output": "18 C"}]},
        ]);
        assert_eq!(Conversation::from_ui(ui.as_array().unwrap()), expected());
    }

    #[test]
    fn every_api_writes_it_back() {
        let conversation = expected();
        let chat = conversation.to_chat();
        assert_eq!(Conversation::from_chat(&chat), conversation);
        let items = Value::Array(conversation.to_responses());
        let system = json!("Be brief.");
        assert_eq!(
            Conversation::from_responses(Some(&items), Some(&system)),
            conversation
        );
        let messages = conversation.to_anthropic();
        // Anthropic alternates: the tool result is a user message of its own.
        let roles: Vec<_> = messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(
            Conversation::from_anthropic(&messages, Some(&system)),
            conversation
        );
    }

    #[test]
    fn anthropic_merges_consecutive_user_blocks() {
        let conversation = Conversation {
            system: None,
            turns: vec![
                Turn::ToolResult {
                    call_id: "a".into(),
                    output: "1".into(),
                },
                Turn::ToolResult {
                    call_id: "b".into(),
                    output: "2".into(),
                },
                Turn::User("and now?".into()),
            ],
        };
        let messages = conversation.to_anthropic();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["content"].as_array().unwrap().len(), 3);
    }
}
