//! The minijinja environment alert conditions and messages run in.
//!
//! Null values are left out of the context, so they are undefined, and the
//! environment is strict: any comparison or arithmetic on a missing value
//! fails and the alert does not fire (in plain minijinja `none < 0.9` is
//! true). `x is none` is true for missing values too, and `is defined`
//! works as usual. Messages get the filters of [`crate::render::filters`].

use minijinja::value::Value;
use minijinja::{Environment, UndefinedBehavior};

/// The environment for `when` expressions and alert messages.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_test("none", |v: Value| v.is_none() || v.is_undefined());
    crate::render::filters::register(&mut env);
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn missing_values_never_compare() {
        let env = environment();
        let eval = |e: &str| {
            env.compile_expression(e)
                .unwrap()
                .eval(context! { value => 0.5 })
                .map(|v| v.is_true())
        };
        assert!(eval("attainment < 0.9").is_err());
        assert!(eval("-attainment > 0").is_err());
        assert!(eval("attainment is none").unwrap());
        assert!(!eval("attainment is defined").unwrap());
        assert!(eval("value < 0.9").unwrap());
        // What plain minijinja would do, and why nulls are not passed as none.
        let plain = Environment::new();
        let none = plain
            .compile_expression("x < 0.9")
            .unwrap()
            .eval(context! { x => () })
            .unwrap();
        assert!(none.is_true());
    }

    #[test]
    fn messages_format_numbers() {
        let env = environment();
        let text = env
            .render_str(
                "{{ v | currency('NT$') }} {{ p | percent }} {{ d | delta }} {{ m | number }}",
                context! { v => 1234567.0, p => 0.873, d => -0.05, m => () },
            )
            .unwrap();
        assert_eq!(text, "NT$ 1,234,567 87.3% ▼ -5.0% —");
    }
}
