"""The base of every pycoderd schema: marshmallow's Schema with a leaner dump loop."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import missing

# Field types whose dump returns a value of one exact Python type unchanged (and None as None):
# a value of that type skips the field's `_serialize` call.
_PASSTHROUGH = {
    ma.fields.String._serialize: str,
    ma.fields.Boolean._serialize: bool,
}


class Schema(ma.Schema):
    """Dumps what marshmallow's own loop dumps, with less work per field.

    marshmallow reads each value through `Field.serialize`, `Field.get_value`, the schema's
    accessor and `utils.get_value` (which tries `obj[key]` before `getattr`): for a 50-item list
    that was most of the request. Here each field's plan is made once per schema: plain fields
    read the attribute directly and hand the value to the field's `_serialize`; strings and
    booleans that already are one pass through, and a list of strings in a List of Strings is
    copied. A field with a dotted `attribute`, its own `serialize`/`get_value`, or no attribute
    to read (Method, Function, Constant), and every missing value, go through marshmallow's own
    `serialize`. Loading is marshmallow's.
    """

    def _serialize(self, obj, *, many: bool = False):
        if many and obj is not None:
            return [self._serialize(item) for item in obj]
        plan = self.__dict__.get("_dump_plan")
        if plan is None:
            plan = self._dump_plan = self._make_dump_plan()
        is_dict = isinstance(obj, dict)
        if not is_dict and hasattr(obj, "__getitem__"):
            return super()._serialize(obj)  # marshmallow reads obj[key] first: keep its way
        ret = self.dict_class()
        for key, attr_name, source, field, passthrough, serialize in plan:
            if source is None:
                value = field.serialize(attr_name, obj, accessor=self.get_attribute)
                if value is missing:
                    continue
                ret[key] = value
                continue
            if is_dict:
                value = obj.get(source, missing)
            else:
                value = getattr(obj, source, missing)
            if value is missing:
                value = field.serialize(attr_name, obj, accessor=self.get_attribute)
                if value is missing:
                    continue
            elif value is None and passthrough is not None:
                pass
            elif type(value) is not passthrough:
                value = serialize(value, attr_name, obj)
            ret[key] = value
        return ret

    def _make_dump_plan(self) -> list[tuple]:
        """(output key, attribute name, attribute to read or None, field, passthrough type, the
        field's dump of a value)."""
        direct = type(self).get_attribute is ma.Schema.get_attribute
        plan = []
        for attr_name, field in self.dump_fields.items():
            key = field.data_key if field.data_key is not None else attr_name
            source = field.attribute if field.attribute is not None else attr_name
            plain = (
                direct
                and field._CHECK_ATTRIBUTE
                and type(field).serialize is ma.fields.Field.serialize
                and type(field).get_value is ma.fields.Field.get_value
                and "." not in source
            )
            passthrough = _PASSTHROUGH.get(type(field)._serialize) if plain else None
            serialize = _string_list(field) if _is_string_list(field) else field._serialize
            plan.append((key, attr_name, source if plain else None, field, passthrough, serialize))
        return plan


def _is_string_list(field) -> bool:
    return type(field) is ma.fields.List and type(field.inner) is ma.fields.String


def _string_list(field):
    """A List of Strings' dump: a list of str is copied as it is (what the field makes of it,
    item by item); anything else goes through the field."""
    serialize = field._serialize

    def dump(value, attr, obj):
        if type(value) is list and all(type(item) is str for item in value):
            return value.copy()
        return serialize(value, attr, obj)

    return dump
