module.exports = { db: { name: 'shop_test' } };
